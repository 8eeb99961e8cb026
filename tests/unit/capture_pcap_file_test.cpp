// PcapFileReader, the reader of classic pcap files, against libpcap itself: the same frames,
// and a failure at the same frame, for both byte orders, both time resolutions and damaged
// records.

#include <gtest/gtest.h>
#include <pcap/pcap.h>
#include <unistd.h>

#include <cstdint>
#include <filesystem>
#include <fstream>
#include <string>
#include <vector>

#include "capture/file_reader.h"

namespace pw::capture {
namespace {

namespace fs = std::filesystem;

struct Record {
    uint32_t seconds = 0;
    uint32_t fraction = 0;
    uint32_t captured = 0;  // as written in the record header, which may disagree with `data`
    uint32_t original = 0;
    std::vector<uint8_t> data;
};

// Writes a classic pcap file: big-endian when `big_endian`, with the nanosecond magic
// when `nanoseconds`.
std::vector<uint8_t> pcap_file(bool big_endian, bool nanoseconds, uint32_t snaplen,
                               uint32_t linktype, const std::vector<Record>& records) {
    std::vector<uint8_t> out;
    auto put32 = [&](uint32_t v) {
        for (int i = 0; i < 4; ++i) {
            int shift = big_endian ? 24 - 8 * i : 8 * i;
            out.push_back(static_cast<uint8_t>(v >> shift));
        }
    };
    auto put16 = [&](uint16_t v) {
        out.push_back(static_cast<uint8_t>(big_endian ? v >> 8 : v));
        out.push_back(static_cast<uint8_t>(big_endian ? v : v >> 8));
    };
    put32(nanoseconds ? 0xA1B23C4D : 0xA1B2C3D4);
    put16(2);
    put16(4);
    put32(0);
    put32(0);
    put32(snaplen);
    put32(linktype);
    for (const Record& record : records) {
        put32(record.seconds);
        put32(record.fraction);
        put32(record.captured);
        put32(record.original);
        out.insert(out.end(), record.data.begin(), record.data.end());
    }
    return out;
}

Record record(uint32_t seconds, uint32_t fraction, size_t length, uint8_t fill) {
    Record r;
    r.seconds = seconds;
    r.fraction = fraction;
    r.captured = static_cast<uint32_t>(length);
    r.original = static_cast<uint32_t>(length + 4);
    r.data.assign(length, fill);
    for (size_t i = 0; i < length; ++i) r.data[i] = static_cast<uint8_t>(fill + i);
    return r;
}

struct TempFile {
    fs::path path;
    explicit TempFile(const std::vector<uint8_t>& bytes)
        : path(fs::temp_directory_path() /
               ("protowatch-pcap-file-" + std::to_string(getpid()) + "-" +
                std::to_string(reinterpret_cast<uintptr_t>(this)) + ".pcap")) {
        std::ofstream(path, std::ios::binary)
            .write(reinterpret_cast<const char*>(bytes.data()),
                   static_cast<std::streamsize>(bytes.size()));
    }
    ~TempFile() { fs::remove(path); }
};

struct Read {
    struct Copy {
        int linktype;
        std::vector<uint8_t> data;
        uint32_t wire_length;
        int64_t time_us;
        bool operator==(const Copy&) const = default;
    };
    std::vector<Copy> frames;
    bool failed = false;
    std::string error;
    bool direct = false;  // read by PcapFileReader
};

// Every frame of `path` as FileReader reads it.
Read read_with_reader(const fs::path& path) {
    Read read;
    FileReader reader;
    ReadResult result = reader.read(
        path, [](int) { return true; },
        [&](const Frame& frame) {
            read.frames.push_back({frame.linktype,
                                   {frame.data.begin(), frame.data.end()},
                                   frame.wire_length,
                                   frame.time_us});
        });
    read.failed = !result.complete;
    read.direct = result.direct;
    read.error = result.error;
    return read;
}

// Every frame of `path` as libpcap reads it, as FileReader turns its records into frames.
Read read_with_libpcap(const fs::path& path) {
    Read read;
    char errbuf[PCAP_ERRBUF_SIZE] = {};
    pcap_t* handle =
        pcap_open_offline_with_tstamp_precision(path.c_str(), PCAP_TSTAMP_PRECISION_MICRO, errbuf);
    if (handle == nullptr) {
        read.failed = true;
        return read;
    }
    pcap_pkthdr* header = nullptr;
    const u_char* bytes = nullptr;
    int status = 0;
    while ((status = pcap_next_ex(handle, &header, &bytes)) == 1) {
        read.frames.push_back(
            {pcap_datalink(handle),
             {bytes, bytes + header->caplen},
             std::max(header->len, header->caplen),
             // The seconds of a classic pcap record are unsigned, which libpcap sign-extends
             // in a file of the host's byte order.
             static_cast<int64_t>(static_cast<uint32_t>(header->ts.tv_sec)) * 1'000'000 +
                 header->ts.tv_usec});
    }
    read.failed = status == PCAP_ERROR;
    if (read.failed) read.error = pcap_geterr(handle);
    pcap_close(handle);
    return read;
}

void expect_same_as_libpcap(const std::vector<uint8_t>& bytes) {
    TempFile file(bytes);
    Read mine = read_with_reader(file.path);
    Read reference = read_with_libpcap(file.path);
    EXPECT_TRUE(mine.direct);
    ASSERT_EQ(mine.frames.size(), reference.frames.size());
    for (size_t i = 0; i < mine.frames.size(); ++i) {
        EXPECT_EQ(mine.frames[i], reference.frames[i]) << "frame " << i;
    }
    EXPECT_EQ(mine.failed, reference.failed) << mine.error;
    if (reference.failed) {
        EXPECT_NE(mine.error.find(reference.error), std::string::npos)
            << "PcapFileReader: " << mine.error << "\nlibpcap: " << reference.error;
        EXPECT_NE(mine.error.find(file.path.string()), std::string::npos) << mine.error;
    }
}

const std::vector<Record> kRecords = {record(1'700'000'000, 123'456, 60, 1),
                                      record(1'700'000'001, 999'999, 1514, 2),
                                      record(0x80000001, 0x80000000, 14, 3), record(5, 0, 0, 4)};

TEST(PcapFile, EveryByteOrderAndResolution) {
    for (bool big_endian : {false, true}) {
        for (bool nanoseconds : {false, true}) {
            SCOPED_TRACE(testing::Message()
                         << "big endian " << big_endian << ", nanoseconds " << nanoseconds);
            expect_same_as_libpcap(pcap_file(big_endian, nanoseconds, 65535, 1, kRecords));
        }
    }
}

TEST(PcapFile, RecordsLongerThanSnapshotAreCut) {
    expect_same_as_libpcap(pcap_file(false, false, 100, 1, {record(1, 2, 300, 7)}));
}

TEST(PcapFile, CapturedLengthOverMaximumIsDamage) {
    Record huge = record(1, 2, 10, 7);
    huge.captured = 300'000;
    expect_same_as_libpcap(pcap_file(false, false, 65535, 1, {record(1, 1, 60, 1), huge}));
    expect_same_as_libpcap(pcap_file(false, false, 400'000, 1, {record(1, 1, 60, 1), huge}));
}

TEST(PcapFile, TruncatedRecordHeaderIsDamage) {
    std::vector<uint8_t> bytes = pcap_file(false, false, 65535, 1, kRecords);
    bytes.resize(bytes.size() - kRecords.back().data.size() - 5);
    expect_same_as_libpcap(bytes);
}

TEST(PcapFile, TruncatedFrameIsDamage) {
    for (bool big_endian : {false, true}) {
        std::vector<uint8_t> bytes =
            pcap_file(big_endian, false, 65535, 1, {record(1, 1, 60, 1), record(2, 1, 60, 2)});
        bytes.resize(bytes.size() - 10);
        expect_same_as_libpcap(bytes);
    }
}

TEST(PcapFile, HeaderOnlyFileHasNoFrames) {
    expect_same_as_libpcap(pcap_file(false, true, 65535, 1, {}));
}

TEST(PcapFile, OtherVersionsGoThroughLibpcap) {
    std::vector<uint8_t> bytes = pcap_file(false, false, 65535, 1, kRecords);
    bytes[6] = 3;  // version 2.3
    TempFile file(bytes);
    Read read = read_with_reader(file.path);
    EXPECT_EQ(read.frames.size(), kRecords.size());
    EXPECT_FALSE(read.direct);
}

// Records longer than what one read(2) brings, the longest libpcap accepts among them, so
// that records straddle the chunks read.
TEST(PcapFile, RecordsAcrossChunks) {
    std::vector<Record> records;
    for (uint32_t i = 0; i < 40; ++i) {
        records.push_back(record(i, i, (i * 37'813) % 200'000 + (i % 7 == 0 ? 62'144 : 0),
                                 static_cast<uint8_t>(i)));
    }
    records.push_back(record(50, 0, 262'144, 9));
    records.push_back(record(51, 0, 60, 10));
    expect_same_as_libpcap(pcap_file(false, false, 262'144, 1, records));
}

// libpcap reads a record longer than the snapshot length in two steps, and its message
// names the step where the file ended.
TEST(PcapFile, CutRecordOverSnapshotIsDamage) {
    for (size_t cut : {250u, 150u}) {
        SCOPED_TRACE(testing::Message() << "cut " << cut << " bytes");
        std::vector<uint8_t> bytes =
            pcap_file(false, false, 100, 1, {record(1, 1, 60, 1), record(2, 1, 300, 2)});
        bytes.resize(bytes.size() - cut);
        expect_same_as_libpcap(bytes);
    }
}

// The filter gets the record's own lengths, as libpcap gives them, also when the original
// length is below the captured one.
TEST(PcapFile, FilterSeesRecordLengths) {
    Record odd = record(1, 1, 54, 3);
    odd.original = 20;
    TempFile file(pcap_file(false, false, 65535, 1, {odd, odd}));
    for (const char* filter : {"greater 30", "less 30"}) {
        SCOPED_TRACE(filter);
        FileReader reader(filter);
        uint64_t frames = 0;
        ReadResult result = reader.read(
            file.path, [](int) { return true; }, [&](const Frame&) { ++frames; });
        EXPECT_TRUE(result.direct);
        EXPECT_TRUE(result.complete) << result.error;
        EXPECT_EQ(frames, std::string_view(filter) == "less 30" ? 2u : 0u);
    }
}

// Records appended while the file is read are read too, as libpcap reads them, also when
// the file ended inside a record when it was opened.
TEST(PcapFile, AppendedRecordsAreRead) {
    std::vector<Record> records;
    for (uint32_t i = 0; i < 20; ++i) records.push_back(record(i, 0, 1000, 1));
    const std::vector<uint8_t> whole = pcap_file(false, false, 65535, 1, records);
    const size_t first = 24 + 10 * 1016 + 500;  // ten records and half of the next
    TempFile file({whole.begin(), whole.begin() + static_cast<std::ptrdiff_t>(first)});
    FileReader reader;
    uint64_t frames = 0;
    ReadResult result = reader.read(
        file.path, [](int) { return true; },
        [&](const Frame&) {
            // Another program writes the rest while the first record is analyzed.
            if (++frames == 1) {
                std::ofstream(file.path, std::ios::binary | std::ios::app)
                    .write(reinterpret_cast<const char*>(whole.data() + first),
                           static_cast<std::streamsize>(whole.size() - first));
            }
        });
    EXPECT_TRUE(result.direct);
    EXPECT_TRUE(result.complete) << result.error;
    EXPECT_EQ(frames, 20u);
}

TEST(PcapFile, FilterApplies) {
    TempFile file(pcap_file(false, false, 65535, 1, kRecords));
    FileReader reader("len > 100");
    std::vector<uint32_t> lengths;
    ReadResult result = reader.read(
        file.path, [](int) { return true; },
        [&](const Frame& frame) { lengths.push_back(static_cast<uint32_t>(frame.data.size())); });
    EXPECT_TRUE(result.complete) << result.error;
    ASSERT_EQ(lengths.size(), 1u);
    EXPECT_EQ(lengths[0], 1514u);
    EXPECT_EQ(result.frames, 1u);
}

TEST(PcapFile, TruncatedWhileReadIsDamage) {
    std::vector<Record> records;
    for (uint32_t i = 0; i < 2000; ++i) records.push_back(record(i, 0, 1000, 1));
    TempFile file(pcap_file(false, false, 65535, 1, records));
    FileReader reader;
    uint64_t frames = 0;
    ReadResult result = reader.read(
        file.path, [](int) { return true; },
        [&](const Frame&) {
            // Another program cuts the file to 100 kB while it is read.
            if (++frames == 10) fs::resize_file(file.path, 100'000);
        });
    EXPECT_TRUE(result.direct);
    EXPECT_FALSE(result.complete);
    // The records of the bytes read before the cut: at least those wholly before it, and
    // none beyond the first chunk read, which ends before record 200.
    EXPECT_GE(frames, (100'000u - 24) / 1016);
    EXPECT_LT(frames, 200u);
    EXPECT_NE(result.error.find("became shorter"), std::string::npos) << result.error;
}

}  // namespace
}  // namespace pw::capture
