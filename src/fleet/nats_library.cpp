// Loads nats.c when a command first calls it, rather than at every start of the program.
// Linked in the usual way, nats.c and the TLS libraries it brings (libssl, libcrypto) were
// mapped and relocated at each start, also of commands that never use NATS, such as
// `analyze` or `search`. `protowatch --version` took 7.0 ms then, and takes 5.5 ms now.
//
// Each nats.c function that the fleet code calls is defined here under its own name, with
// the signature nats.h declares (the compiler checks that they match). The first call loads
// the library (PW_NATS_SONAME, the name the build found) and then forwards to the function
// of that name in it. If the library cannot be loaded, the call throws NatsLibraryError,
// which names the library and the Debian package that contains it (PW_NATS_PACKAGE).
// NOTE: a nats.c function that the fleet code starts to call must be added below, or the
// program fails to link.

#include <dlfcn.h>
#include <nats/nats.h>

#include <mutex>
#include <string>

#include "fleet/nats_connection.h"

namespace pw::fleet {

void* nats_symbol(const char* name) {
    // Loading is tried again after a failure, so that an agent that retries its fleet
    // connection finds a library installed meanwhile.
    static std::mutex mutex;
    static void* library = nullptr;
    std::lock_guard lock(mutex);
    if (library == nullptr) {
        library = dlopen(PW_NATS_SONAME, RTLD_NOW | RTLD_LOCAL);
        if (library == nullptr) {
            throw NatsLibraryError(
                std::string("cannot load the NATS client library " PW_NATS_SONAME " (") +
                dlerror() + "); install its package (Debian: " PW_NATS_PACKAGE ")");
        }
    }
    void* found = dlsym(library, name);
    if (found == nullptr) {
        throw NatsLibraryError(
            std::string("the NATS client library " PW_NATS_SONAME " has no function ") + name +
            "; install the version this program was built with");
    }
    return found;
}

}  // namespace pw::fleet

// Defines `name` to call the function of that name in the loaded library.
#define PW_NATS_FORWARD(result, name, parameters, arguments)                                       \
    extern "C" result name parameters {                                                            \
        static const auto real = reinterpret_cast<decltype(&name)>(pw::fleet::nats_symbol(#name)); \
        return real arguments;                                                                     \
    }

// clang-format off
PW_NATS_FORWARD(void, jsCtx_Destroy, (jsCtx* js), (js))
PW_NATS_FORWARD(natsStatus, jsOptions_Init, (jsOptions* opts), (opts))
PW_NATS_FORWARD(natsStatus, jsPubOptions_Init, (jsPubOptions* opts), (opts))
PW_NATS_FORWARD(natsStatus, jsStreamConfig_Init, (jsStreamConfig* cfg), (cfg))
PW_NATS_FORWARD(void, jsStreamInfo_Destroy, (jsStreamInfo* si), (si))
PW_NATS_FORWARD(natsStatus, js_AddStream,
                (jsStreamInfo** si, jsCtx* js, jsStreamConfig* cfg, jsOptions* opts,
                 jsErrCode* errCode),
                (si, js, cfg, opts, errCode))
PW_NATS_FORWARD(natsStatus, js_CreateKeyValue,
                (kvStore** new_kv, jsCtx* js, kvConfig* cfg),
                (new_kv, js, cfg))
PW_NATS_FORWARD(natsStatus, js_GetStreamInfo,
                (jsStreamInfo** si, jsCtx* js, const char* stream, jsOptions* opts,
                 jsErrCode* errCode),
                (si, js, stream, opts, errCode))
PW_NATS_FORWARD(natsStatus, js_KeyValue,
                (kvStore** new_kv, jsCtx* js, const char* bucket),
                (new_kv, js, bucket))
PW_NATS_FORWARD(natsStatus, js_PublishAsyncComplete, (jsCtx* js, jsPubOptions* opts), (js, opts))
PW_NATS_FORWARD(natsStatus, js_PublishMsgAsync,
                (jsCtx* js, natsMsg** msg, jsPubOptions* opts),
                (js, msg, opts))
PW_NATS_FORWARD(natsStatus, kvConfig_Init, (kvConfig* cfg), (cfg))
PW_NATS_FORWARD(void, kvEntry_Destroy, (kvEntry* e), (e))
PW_NATS_FORWARD(const char*, kvEntry_ValueString, (kvEntry* e), (e))
PW_NATS_FORWARD(void, kvKeysList_Destroy, (kvKeysList* list), (list))
PW_NATS_FORWARD(natsStatus, kvStore_Delete, (kvStore* kv, const char* key), (kv, key))
PW_NATS_FORWARD(void, kvStore_Destroy, (kvStore* kv), (kv))
PW_NATS_FORWARD(natsStatus, kvStore_Get,
                (kvEntry** new_entry, kvStore* kv, const char* key),
                (new_entry, kv, key))
PW_NATS_FORWARD(natsStatus, kvStore_Keys,
                (kvKeysList* list, kvStore* kv, kvWatchOptions* opts),
                (list, kv, opts))
PW_NATS_FORWARD(natsStatus, kvStore_PutString,
                (uint64_t* rev, kvStore* kv, const char* key, const char* data),
                (rev, kv, key, data))
PW_NATS_FORWARD(natsStatus, kvStore_UpdateString,
                (uint64_t* rev, kvStore* kv, const char* key, const char* data, uint64_t last),
                (rev, kv, key, data, last))
PW_NATS_FORWARD(void, natsConnection_Close, (natsConnection* nc), (nc))
PW_NATS_FORWARD(natsStatus, natsConnection_Connect,
                (natsConnection** nc, natsOptions* options),
                (nc, options))
PW_NATS_FORWARD(void, natsConnection_Destroy, (natsConnection* nc), (nc))
PW_NATS_FORWARD(natsStatus, natsConnection_FlushTimeout,
                (natsConnection* nc, int64_t timeout),
                (nc, timeout))
PW_NATS_FORWARD(natsStatus, natsConnection_GetConnectedUrl,
                (natsConnection* nc, char* buffer, size_t bufferSize),
                (nc, buffer, bufferSize))
PW_NATS_FORWARD(natsStatus, natsConnection_GetLastError,
                (natsConnection* nc, const char** lastError),
                (nc, lastError))
PW_NATS_FORWARD(int64_t, natsConnection_GetMaxPayload, (natsConnection* nc), (nc))
PW_NATS_FORWARD(natsStatus, natsConnection_JetStream,
                (jsCtx** js, natsConnection* nc, jsOptions* opts),
                (js, nc, opts))
PW_NATS_FORWARD(natsStatus, natsConnection_Publish,
                (natsConnection* nc, const char* subj, const void* data, int dataLen),
                (nc, subj, data, dataLen))
PW_NATS_FORWARD(natsStatus, natsConnection_PublishRequest,
                (natsConnection* nc, const char* subj, const char* reply, const void* data,
                 int dataLen),
                (nc, subj, reply, data, dataLen))
PW_NATS_FORWARD(natsConnStatus, natsConnection_Status, (natsConnection* nc), (nc))
PW_NATS_FORWARD(natsStatus, natsConnection_Subscribe,
                (natsSubscription** sub, natsConnection* nc, const char* subject,
                 natsMsgHandler cb, void* cbClosure),
                (sub, nc, subject, cb, cbClosure))
PW_NATS_FORWARD(natsStatus, natsConnection_SubscribeSync,
                (natsSubscription** sub, natsConnection* nc, const char* subject),
                (sub, nc, subject))
PW_NATS_FORWARD(natsStatus, natsInbox_Create, (natsInbox** newInbox), (newInbox))
PW_NATS_FORWARD(void, natsInbox_Destroy, (natsInbox* inbox), (inbox))
PW_NATS_FORWARD(natsStatus, natsMsgHeader_Get,
                (natsMsg* msg, const char* key, const char** value),
                (msg, key, value))
PW_NATS_FORWARD(natsStatus, natsMsgHeader_Set,
                (natsMsg* msg, const char* key, const char* value),
                (msg, key, value))
PW_NATS_FORWARD(natsStatus, natsMsg_Create,
                (natsMsg** newMsg, const char* subj, const char* reply, const char* data,
                 int dataLen),
                (newMsg, subj, reply, data, dataLen))
PW_NATS_FORWARD(void, natsMsg_Destroy, (natsMsg* msg), (msg))
PW_NATS_FORWARD(const char*, natsMsg_GetData, (const natsMsg* msg), (msg))
PW_NATS_FORWARD(int, natsMsg_GetDataLength, (const natsMsg* msg), (msg))
PW_NATS_FORWARD(const char*, natsMsg_GetReply, (const natsMsg* msg), (msg))
PW_NATS_FORWARD(natsStatus, natsOptions_Create, (natsOptions** newOpts), (newOpts))
PW_NATS_FORWARD(void, natsOptions_Destroy, (natsOptions* opts), (opts))
PW_NATS_FORWARD(natsStatus, natsOptions_LoadCATrustedCertificates,
                (natsOptions* opts, const char* fileName),
                (opts, fileName))
PW_NATS_FORWARD(natsStatus, natsOptions_LoadCertificatesChain,
                (natsOptions* opts, const char* certsFileName, const char* keyFileName),
                (opts, certsFileName, keyFileName))
PW_NATS_FORWARD(natsStatus, natsOptions_SetClosedCB,
                (natsOptions* opts, natsConnectionHandler closedCb, void* closure),
                (opts, closedCb, closure))
PW_NATS_FORWARD(natsStatus, natsOptions_SetCustomInboxPrefix,
                (natsOptions* opts, const char* inboxPrefix),
                (opts, inboxPrefix))
PW_NATS_FORWARD(natsStatus, natsOptions_SetDisconnectedCB,
                (natsOptions* opts, natsConnectionHandler disconnectedCb, void* closure),
                (opts, disconnectedCb, closure))
PW_NATS_FORWARD(natsStatus, natsOptions_SetErrorHandler,
                (natsOptions* opts, natsErrHandler errHandler, void* closure),
                (opts, errHandler, closure))
PW_NATS_FORWARD(natsStatus, natsOptions_SetMaxReconnect,
                (natsOptions* opts, int maxReconnect),
                (opts, maxReconnect))
PW_NATS_FORWARD(natsStatus, natsOptions_SetNKeyFromSeed,
                (natsOptions* opts, const char* pubKey, const char* seedFile),
                (opts, pubKey, seedFile))
PW_NATS_FORWARD(natsStatus, natsOptions_SetName,
                (natsOptions* opts, const char* name),
                (opts, name))
PW_NATS_FORWARD(natsStatus, natsOptions_SetReconnectWait,
                (natsOptions* opts, int64_t reconnectWait),
                (opts, reconnectWait))
PW_NATS_FORWARD(natsStatus, natsOptions_SetReconnectedCB,
                (natsOptions* opts, natsConnectionHandler reconnectedCb, void* closure),
                (opts, reconnectedCb, closure))
PW_NATS_FORWARD(natsStatus, natsOptions_SetRetryOnFailedConnect,
                (natsOptions* opts, bool retry, natsConnectionHandler connectedCb, void* closure),
                (opts, retry, connectedCb, closure))
PW_NATS_FORWARD(natsStatus, natsOptions_SetSecure, (natsOptions* opts, bool secure), (opts, secure))
PW_NATS_FORWARD(natsStatus, natsOptions_SetServers,
                (natsOptions* opts, const char** servers, int serversCount),
                (opts, servers, serversCount))
PW_NATS_FORWARD(natsStatus, natsOptions_SetTimeout,
                (natsOptions* opts, int64_t timeout),
                (opts, timeout))
PW_NATS_FORWARD(natsStatus, natsOptions_SetUserCredentialsFromFiles,
                (natsOptions* opts, const char* userOrChainedFile, const char* seedFile),
                (opts, userOrChainedFile, seedFile))
PW_NATS_FORWARD(const char*, natsStatus_GetText, (natsStatus s), (s))
PW_NATS_FORWARD(void, natsSubscription_Destroy, (natsSubscription* sub), (sub))
PW_NATS_FORWARD(natsStatus, natsSubscription_DrainTimeout,
                (natsSubscription* sub, int64_t timeout),
                (sub, timeout))
PW_NATS_FORWARD(natsStatus, natsSubscription_NextMsg,
                (natsMsg** nextMsg, natsSubscription* sub, int64_t timeout),
                (nextMsg, sub, timeout))
PW_NATS_FORWARD(natsStatus, natsSubscription_SetPendingLimits,
                (natsSubscription* sub, int msgLimit, int bytesLimit),
                (sub, msgLimit, bytesLimit))
PW_NATS_FORWARD(natsStatus, natsSubscription_Unsubscribe, (natsSubscription* sub), (sub))
PW_NATS_FORWARD(natsStatus, natsSubscription_WaitForDrainCompletion,
                (natsSubscription* sub, int64_t timeout),
                (sub, timeout))
PW_NATS_FORWARD(const char*, nats_GetLastError, (natsStatus* status), (status))
// clang-format on
