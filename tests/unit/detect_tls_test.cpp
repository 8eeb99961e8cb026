// TLS, SSL 3.0 and SSL 2.0 detection, with records and hellos built from RFC 5246, RFC 8446,
// RFC 7301 and the SSL 2.0 specification.

#include <gtest/gtest.h>

#include <cstdint>
#include <memory>
#include <random>
#include <string>
#include <vector>

#include "detect/detector.h"

namespace pw::detect {

std::unique_ptr<Detector> make_tls_detector();

namespace {

using Bytes = std::vector<uint8_t>;

void put16(Bytes& out, size_t value) {
    out.push_back(static_cast<uint8_t>(value >> 8));
    out.push_back(static_cast<uint8_t>(value));
}

void put24(Bytes& out, size_t value) {
    out.push_back(static_cast<uint8_t>(value >> 16));
    put16(out, value & 0xffff);
}

void append(Bytes& out, const Bytes& more) { out.insert(out.end(), more.begin(), more.end()); }

Bytes record(uint8_t type, uint16_t version, const Bytes& body) {
    Bytes out = {type};
    put16(out, version);
    put16(out, body.size());
    append(out, body);
    return out;
}

Bytes handshake(uint8_t type, const Bytes& body) {
    Bytes out = {type};
    put24(out, body.size());
    append(out, body);
    return out;
}

Bytes extension(uint16_t type, const Bytes& data) {
    Bytes out;
    put16(out, type);
    put16(out, data.size());
    append(out, data);
    return out;
}

Bytes alpn(const std::vector<std::string>& names) {
    Bytes list;
    for (const std::string& name : names) {
        list.push_back(static_cast<uint8_t>(name.size()));
        list.insert(list.end(), name.begin(), name.end());
    }
    Bytes data;
    put16(data, list.size());
    append(data, list);
    return extension(16, data);
}

struct HelloOptions {
    uint16_t version = 0x0303;
    std::vector<uint16_t> supported_versions;  // client: offered; server: one selected
    std::vector<std::string> alpn;
};

Bytes client_hello(const HelloOptions& options) {
    Bytes body;
    put16(body, options.version);
    body.insert(body.end(), 32, 0x11);  // random
    body.push_back(0);                  // session id
    put16(body, 4);
    put16(body, 0xc02f);
    put16(body, 0x009c);
    body.push_back(1);  // compression methods
    body.push_back(0);
    Bytes extensions;
    if (!options.supported_versions.empty()) {
        Bytes data = {static_cast<uint8_t>(options.supported_versions.size() * 2)};
        for (uint16_t v : options.supported_versions) put16(data, v);
        append(extensions, extension(43, data));
    }
    if (!options.alpn.empty()) append(extensions, alpn(options.alpn));
    put16(body, extensions.size());
    append(body, extensions);
    return record(22, 0x0301, handshake(1, body));
}

Bytes server_hello(const HelloOptions& options) {
    Bytes body;
    put16(body, options.version);
    body.insert(body.end(), 32, 0x22);
    body.push_back(0);
    put16(body, 0xc02f);
    body.push_back(0);
    Bytes extensions;
    if (!options.supported_versions.empty()) {
        Bytes data;
        put16(data, options.supported_versions.front());
        append(extensions, extension(43, data));
    }
    if (!options.alpn.empty()) append(extensions, alpn(options.alpn));
    put16(body, extensions.size());
    append(body, extensions);
    return record(22, options.version, handshake(2, body));
}

// An SSL 2.0 CLIENT-HELLO with the 2-byte record header.
Bytes ssl2_client_hello(uint16_t version) {
    Bytes message = {1};
    put16(message, version);
    put16(message, 6);   // cipher specs: two of 3 bytes
    put16(message, 0);   // session id
    put16(message, 16);  // challenge
    message.insert(message.end(), {0x01, 0x00, 0x80, 0x00, 0x00, 0x04});
    message.insert(message.end(), 16, 0x33);
    Bytes out = {static_cast<uint8_t>(0x80 | message.size() >> 8),
                 static_cast<uint8_t>(message.size())};
    append(out, message);
    return out;
}

Bytes ssl2_server_hello() {
    Bytes message = {4, 0, 1};  // SERVER-HELLO, no session id hit, X.509 certificate
    put16(message, 0x0002);
    put16(message, 4);   // certificate
    put16(message, 3);   // cipher specs
    put16(message, 16);  // connection id
    message.insert(message.end(), {0x30, 0x82, 0x00, 0x00, 0x01, 0x00, 0x80});
    message.insert(message.end(), 16, 0x44);
    Bytes out = {static_cast<uint8_t>(0x80 | message.size() >> 8),
                 static_cast<uint8_t>(message.size())};
    append(out, message);
    return out;
}

Bytes application_data(size_t size) { return record(23, 0x0303, Bytes(size, 0xab)); }

// One TCP flow fed to the detector the way the pipeline feeds it.
struct Flow {
    Session session{Transport::kTcp, address(1), 50000, address(2), 443};
    std::unique_ptr<Detector> detector = make_tls_detector();
    Verdict last = Verdict::kContinue;
    uint64_t offsets[2] = {0, 0};

    static decode::IpAddress address(uint8_t last_byte) {
        const uint8_t raw[4] = {192, 0, 2, last_byte};
        return decode::IpAddress::v4(raw);
    }

    Verdict send(bool from_client, const Bytes& data) {
        if (last != Verdict::kContinue) return last;
        decode::Packet packet;
        uint64_t& offset = offsets[from_client ? 0 : 1];
        last = detector->inspect(session, Segment{data, from_client, offset, &packet});
        offset += data.size();
        return last;
    }
    void end() {
        if (last == Verdict::kContinue) detector->finish(session);
    }
    bool has(ProtocolId id) const { return session.has(id); }
};

TEST(TlsDetector, Tls12Handshake) {
    Flow flow;
    EXPECT_EQ(flow.send(true, client_hello({})), Verdict::kContinue);
    EXPECT_FALSE(flow.session.classified());
    EXPECT_EQ(flow.send(false, server_hello({})), Verdict::kDone);
    EXPECT_TRUE(flow.has(ProtocolId::TLS));
    EXPECT_FALSE(flow.has(ProtocolId::SSL3));
    EXPECT_FALSE(flow.has(ProtocolId::TLS_ALPN_H2));
}

TEST(TlsDetector, ServerSelectsH2) {
    Flow flow;
    flow.send(true, client_hello({.alpn = {"h2", "http/1.1"}}));
    flow.send(false, server_hello({.alpn = {"h2"}}));
    EXPECT_TRUE(flow.has(ProtocolId::TLS));
    EXPECT_TRUE(flow.has(ProtocolId::TLS_ALPN_H2));
}

TEST(TlsDetector, ClientOfferOfH2IsNotEnough) {
    Flow flow;
    flow.send(true, client_hello({.alpn = {"h2", "http/1.1"}}));
    flow.send(false, server_hello({.alpn = {"http/1.1"}}));
    EXPECT_TRUE(flow.has(ProtocolId::TLS));
    EXPECT_FALSE(flow.has(ProtocolId::TLS_ALPN_H2));

    Flow alert;
    alert.send(true, client_hello({.alpn = {"h2"}}));
    alert.send(false, record(21, 0x0303, {2, 70}));
    EXPECT_TRUE(alert.has(ProtocolId::TLS));
    EXPECT_FALSE(alert.has(ProtocolId::TLS_ALPN_H2));
}

TEST(TlsDetector, Tls13BySupportedVersions) {
    Flow flow;
    flow.send(true, client_hello({.supported_versions = {0x2a2a, 0x0304, 0x0303}}));
    flow.send(false, server_hello({.supported_versions = {0x0304}}));
    EXPECT_TRUE(flow.has(ProtocolId::TLS));
    EXPECT_FALSE(flow.has(ProtocolId::SSL3));
}

TEST(TlsDetector, ServerSelectsSsl3) {
    Flow flow;
    flow.send(true, client_hello({.version = 0x0301}));
    flow.send(false, server_hello({.version = 0x0300}));
    EXPECT_TRUE(flow.has(ProtocolId::SSL3));
    EXPECT_FALSE(flow.has(ProtocolId::TLS));
}

TEST(TlsDetector, ClientOnlyDecidesByOffer) {
    Flow ssl3;
    ssl3.send(true, client_hello({.version = 0x0300}));
    ssl3.end();
    EXPECT_TRUE(ssl3.has(ProtocolId::SSL3));
    EXPECT_FALSE(ssl3.has(ProtocolId::TLS));

    Flow tls;
    tls.send(true, client_hello({.version = 0x0303}));
    tls.end();
    EXPECT_TRUE(tls.has(ProtocolId::TLS));
}

TEST(TlsDetector, ServerOnlyHello) {
    Flow flow;
    EXPECT_EQ(flow.send(false, server_hello({.alpn = {"h2"}})), Verdict::kDone);
    EXPECT_TRUE(flow.has(ProtocolId::TLS));
    EXPECT_TRUE(flow.has(ProtocolId::TLS_ALPN_H2));
}

TEST(TlsDetector, Ssl2FormatHelloNegotiatingTls) {
    Flow flow;
    flow.send(true, ssl2_client_hello(0x0301));
    flow.send(false, server_hello({.version = 0x0301}));
    EXPECT_TRUE(flow.has(ProtocolId::SSL2));
    EXPECT_TRUE(flow.has(ProtocolId::TLS));
}

TEST(TlsDetector, Ssl2Session) {
    Flow flow;
    flow.send(true, ssl2_client_hello(0x0002));
    EXPECT_EQ(flow.send(false, ssl2_server_hello()), Verdict::kDone);
    EXPECT_TRUE(flow.has(ProtocolId::SSL2));
    EXPECT_FALSE(flow.has(ProtocolId::TLS));
}

TEST(TlsDetector, HelloSplitAcrossSegments) {
    Bytes hello = client_hello({.alpn = {"h2"}});
    Flow flow;
    for (size_t at = 0; at < hello.size(); at += 7) {
        Bytes piece(hello.begin() + at, hello.begin() + std::min(at + 7, hello.size()));
        EXPECT_EQ(flow.send(true, piece), Verdict::kContinue);
    }
    Bytes reply = server_hello({.alpn = {"h2"}});
    flow.send(false, Bytes(reply.begin(), reply.begin() + 3));
    EXPECT_FALSE(flow.session.classified());
    flow.send(false, Bytes(reply.begin() + 3, reply.end()));
    EXPECT_TRUE(flow.has(ProtocolId::TLS));
    EXPECT_TRUE(flow.has(ProtocolId::TLS_ALPN_H2));
}

TEST(TlsDetector, MidStreamChainedRecords) {
    Flow flow;
    Bytes two = application_data(40);
    append(two, application_data(60));
    two.resize(two.size() - 10);  // the second record continues in the next segment
    EXPECT_EQ(flow.send(true, two), Verdict::kDone);
    EXPECT_TRUE(flow.has(ProtocolId::TLS));
}

TEST(TlsDetector, MidStreamRecordFillingSegments) {
    Flow flow;
    Bytes one = application_data(3000);
    flow.send(false, Bytes(one.begin(), one.begin() + 1460));
    EXPECT_FALSE(flow.session.classified());
    flow.send(false, Bytes(one.begin() + 1460, one.end()));
    EXPECT_TRUE(flow.has(ProtocolId::TLS));
}

TEST(TlsDetector, MidStreamAfterPartialRecord) {
    // The capture starts inside a record; the next segment starts a new one.
    Flow flow;
    flow.send(true, Bytes(500, 0x5c));
    flow.send(true, application_data(100));
    EXPECT_TRUE(flow.has(ProtocolId::TLS));
}

TEST(TlsDetector, PlainTextIsNotTls) {
    Flow flow;
    std::string request = "GET / HTTP/1.1\r\nHost: example.com\r\n\r\n";
    Verdict verdict = Verdict::kContinue;
    for (int i = 0; i < 20 && verdict == Verdict::kContinue; ++i) {
        verdict = flow.send(true, Bytes(request.begin(), request.end()));
    }
    EXPECT_EQ(verdict, Verdict::kNotMine);
    EXPECT_TRUE(flow.session.protocols().empty());
}

TEST(TlsDetector, PlainTextServerReplyKeepsClientOffer) {
    // A client that opens with a ClientHello speaks TLS, even to a server that answers in
    // plain text on that port.
    Flow flow;
    flow.send(true, client_hello({}));
    std::string reply = "220 mail.example.com ESMTP\r\n";
    EXPECT_EQ(flow.send(false, Bytes(reply.begin(), reply.end())), Verdict::kDone);
    EXPECT_TRUE(flow.has(ProtocolId::TLS));
}

TEST(TlsDetector, InvalidRecordHeaders) {
    Flow version;
    version.send(true, record(22, 0x0200, Bytes(40, 0)));
    version.end();
    EXPECT_TRUE(version.session.protocols().empty());

    Flow type;
    type.send(true, record(30, 0x0303, Bytes(40, 0)));
    type.end();
    EXPECT_TRUE(type.session.protocols().empty());

    // A length past the largest record the protocol allows.
    Flow length;
    Bytes huge = {23, 3, 3, 0x48, 0x01};
    huge.resize(1400, 0);
    length.send(true, huge);
    length.end();
    EXPECT_TRUE(length.session.protocols().empty());
}

TEST(TlsDetector, InnerLayerAfterStartTls) {
    Flow flow;
    std::string greeting = "220 mail.example.com ESMTP\r\n";
    flow.send(false, Bytes(greeting.begin(), greeting.end()));
    // Another detector recognizes the plain-text protocol, then hands the stream back.
    flow.session.add(ProtocolId::SMTP);
    flow.session.open_inner_layer();
    flow.send(true, client_hello({}));
    flow.send(false, server_hello({}));
    EXPECT_TRUE(flow.has(ProtocolId::TLS));
}

TEST(TlsDetector, MalformedHellosDoNotCrash) {
    std::mt19937 random(7);
    Bytes hello = client_hello({.supported_versions = {0x0304}, .alpn = {"h2"}});
    for (int round = 0; round < 2000; ++round) {
        Bytes mutated = hello;
        for (int i = 0; i < 4; ++i) mutated[random() % mutated.size()] = random() & 0xff;
        mutated.resize(random() % (mutated.size() + 1));
        Flow flow;
        flow.send(true, mutated);
        flow.send(false, mutated);
        flow.end();
    }
    for (size_t size = 0; size < 64; ++size) {
        Flow flow;
        flow.send(true, Bytes(size, 0x16));
        flow.send(false, Bytes(size, 0x80));
        flow.end();
    }
}

}  // namespace
}  // namespace pw::detect
