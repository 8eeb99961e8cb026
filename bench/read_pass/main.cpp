// Reads every packet of a capture through libpcap and does nothing else: the floor that
// the benchmark script compares protowatch's cost with.

#include <pcap/pcap.h>

#include <cstdint>
#include <cstdio>

int main(int argc, char** argv) {
    if (argc != 2) {
        std::fprintf(stderr, "usage: protowatch_read_pass CAPTURE\n");
        return 1;
    }
    char errbuf[PCAP_ERRBUF_SIZE] = {};
    pcap_t* handle = pcap_open_offline(argv[1], errbuf);
    if (handle == nullptr) {
        std::fprintf(stderr, "cannot read '%s': %s\n", argv[1], errbuf);
        return 1;
    }
    uint64_t packets = 0;
    uint64_t bytes = 0;
    uint8_t checksum = 0;
    pcap_pkthdr* header = nullptr;
    const u_char* data = nullptr;
    while (pcap_next_ex(handle, &header, &data) == 1) {
        ++packets;
        bytes += header->len;
        // Touch the first byte so the pass reads the packet and not only its header.
        if (header->caplen > 0) checksum ^= data[0];
    }
    pcap_close(handle);
    std::printf("packets %llu bytes %llu check %u\n", static_cast<unsigned long long>(packets),
                static_cast<unsigned long long>(bytes), checksum);
    return 0;
}
