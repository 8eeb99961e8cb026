// Reads a JetStream stream for the fleet tests, independently of the code under test:
//   stream_probe leader SERVERS STREAM   prints the name of the stream's leader
//   stream_probe ids SERVERS STREAM      prints the Nats-Msg-Id of every message, in order
// SERVERS is a comma-separated list of URLs. Exits 1 with a message on any failure.

#include <nats/nats.h>

#include <cstdio>
#include <cstring>
#include <string>
#include <vector>

namespace {

int fail(const char* what, natsStatus status) {
    std::fprintf(stderr, "stream_probe: %s: %s\n", what, natsStatus_GetText(status));
    return 1;
}

}  // namespace

int main(int argc, char** argv) {
    if (argc != 4 || (std::strcmp(argv[1], "leader") != 0 && std::strcmp(argv[1], "ids") != 0)) {
        std::fprintf(stderr, "usage: stream_probe leader|ids SERVERS STREAM\n");
        return 2;
    }
    std::string servers = argv[2];
    const char* stream = argv[3];

    natsConnection* connection = nullptr;
    natsStatus status = natsConnection_ConnectTo(&connection, servers.c_str());
    if (status != NATS_OK) return fail("connect", status);
    jsCtx* js = nullptr;
    if ((status = natsConnection_JetStream(&js, connection, nullptr)) != NATS_OK) {
        return fail("JetStream context", status);
    }
    jsStreamInfo* info = nullptr;
    if ((status = js_GetStreamInfo(&info, js, stream, nullptr, nullptr)) != NATS_OK) {
        return fail("stream info", status);
    }

    int result = 0;
    if (std::strcmp(argv[1], "leader") == 0) {
        const char* leader = info->Cluster != nullptr ? info->Cluster->Leader : nullptr;
        if (leader == nullptr) {
            std::fprintf(stderr, "stream_probe: the stream has no leader\n");
            result = 1;
        } else {
            std::printf("%s\n", leader);
        }
    } else {
        for (uint64_t sequence = info->State.FirstSeq;
             info->State.Msgs > 0 && sequence <= info->State.LastSeq; ++sequence) {
            natsMsg* message = nullptr;
            status = js_GetMsg(&message, js, stream, sequence, nullptr, nullptr);
            if (status == NATS_NOT_FOUND) continue;  // deleted
            if (status != NATS_OK) {
                result = fail("get message", status);
                break;
            }
            const char* id = nullptr;
            if (natsMsgHeader_Get(message, "Nats-Msg-Id", &id) != NATS_OK) id = "(none)";
            std::printf("%s\n", id);
            natsMsg_Destroy(message);
        }
    }
    jsStreamInfo_Destroy(info);
    jsCtx_Destroy(js);
    natsConnection_Destroy(connection);
    return result;
}
