#include <gtest/gtest.h>

#include <cstring>
#include <string>
#include <vector>

#include "content/transfer.h"

namespace pw::content {
namespace {

using namespace std::string_view_literals;

ProtocolId identify_text(std::string_view text) {
    return identify(std::span(reinterpret_cast<const uint8_t*>(text.data()), text.size()));
}

ProtocolId identify_bytes(const std::vector<uint8_t>& bytes) { return identify(bytes); }

void put_le16(std::vector<uint8_t>& out, size_t at, uint16_t value) {
    out[at] = value & 0xff;
    out[at + 1] = value >> 8;
}
void put_le32(std::vector<uint8_t>& out, size_t at, uint32_t value) {
    for (int i = 0; i < 4; ++i) out[at + i] = (value >> (8 * i)) & 0xff;
}

std::vector<uint8_t> bmp_header() {
    std::vector<uint8_t> bmp(64, 0);
    bmp[0] = 'B';
    bmp[1] = 'M';
    put_le32(bmp, 2, 9806);  // file size
    put_le32(bmp, 10, 54);   // pixel data offset
    put_le32(bmp, 14, 40);   // BITMAPINFOHEADER
    put_le32(bmp, 18, 70);
    put_le32(bmp, 22, 46);
    put_le16(bmp, 26, 1);   // planes
    put_le16(bmp, 28, 24);  // bits per pixel
    return bmp;
}

std::vector<uint8_t> ico_header(uint16_t count) {
    std::vector<uint8_t> ico(6 + 16 * count + 8, 0);
    put_le16(ico, 2, 1);
    put_le16(ico, 4, count);
    for (uint16_t i = 0; i < count; ++i) {
        size_t entry = 6 + 16 * i;
        ico[entry] = 32;
        ico[entry + 1] = 32;
        put_le16(ico, entry + 4, 1);
        put_le16(ico, entry + 6, 32);
        put_le32(ico, entry + 8, 4264);
        put_le32(ico, entry + 12, 6 + 16 * count);
    }
    return ico;
}

// A tar header block with the checksum filled in.
std::vector<uint8_t> tar_header(std::string_view name, char typeflag, size_t size,
                                bool ustar = true) {
    std::vector<uint8_t> block(512, 0);
    std::memcpy(block.data(), name.data(), name.size());
    std::memcpy(block.data() + 100, "0000644", 7);
    std::snprintf(reinterpret_cast<char*>(block.data()) + 124, 12, "%011zo", size);
    block[156] = static_cast<uint8_t>(typeflag);
    if (ustar)
        std::memcpy(block.data() + 257,
                    "ustar\0"
                    "00",
                    8);
    std::memset(block.data() + 148, ' ', 8);
    unsigned sum = 0;
    for (uint8_t byte : block) sum += byte;
    std::snprintf(reinterpret_cast<char*>(block.data()) + 148, 8, "%06o", sum);
    return block;
}

// A version 3 compound file: header, one FAT sector, then the directory in sector 1.
std::vector<uint8_t> ole_file(std::string_view root_clsid, std::u16string_view stream_name) {
    std::vector<uint8_t> file(512 * 3, 0);
    std::memcpy(file.data(), "\xd0\xcf\x11\xe0\xa1\xb1\x1a\xe1", 8);
    put_le16(file, 24, 0x3e);
    put_le16(file, 26, 3);
    put_le16(file, 28, 0xfffe);
    put_le16(file, 30, 9);
    put_le16(file, 32, 6);
    put_le32(file, 48, 1);  // first directory sector
    size_t root = 512 * 2;
    std::u16string_view root_name = u"Root Entry";
    for (size_t i = 0; i < root_name.size(); ++i) put_le16(file, root + 2 * i, root_name[i]);
    put_le16(file, root + 64, static_cast<uint16_t>((root_name.size() + 1) * 2));
    file[root + 66] = 5;
    std::memcpy(file.data() + root + 80, root_clsid.data(),
                std::min<size_t>(16, root_clsid.size()));
    size_t stream = root + 128;
    for (size_t i = 0; i < stream_name.size(); ++i) put_le16(file, stream + 2 * i, stream_name[i]);
    put_le16(file, stream + 64, static_cast<uint16_t>((stream_name.size() + 1) * 2));
    file[stream + 66] = 2;
    return file;
}

TEST(ContentIdentify, Images) {
    EXPECT_EQ(identify_text("\x89PNG\r\n\x1a\n\0\0\0\rIHDR\0\0\0\x01"sv), ProtocolId::IMAGE_PNG);
    EXPECT_EQ(identify_text("GIF89a\x46\0\x2e\0"sv), ProtocolId::IMAGE_GIF);
    EXPECT_EQ(identify_text("GIF87a"sv), ProtocolId::IMAGE_GIF);
    EXPECT_EQ(identify_text("\xff\xd8\xff\xe0\0\x10JFIF\0"sv), ProtocolId::IMAGE_JPEG);
    EXPECT_EQ(identify_bytes(bmp_header()), ProtocolId::IMAGE_BMP);
    EXPECT_EQ(identify_text("II*\0\x08\0\0\0"sv), ProtocolId::IMAGE_TIFF);
    EXPECT_EQ(identify_text("MM\0*\0\0\0\x08"sv), ProtocolId::IMAGE_TIFF);
    EXPECT_EQ(identify_bytes(ico_header(2)), ProtocolId::IMAGE_ICO);
    EXPECT_EQ(identify_text("RIFF\xe4\x23\0\0ACONLIST"sv), ProtocolId::IMAGE_ANI);
    EXPECT_EQ(identify_text("RIFF\xe4\x23\0\0WAVEfmt "sv), ProtocolId::kNone);
}

TEST(ContentIdentify, BmpNeedsHeaderFields) {
    EXPECT_EQ(identify_text("BM is what this text starts with, and nothing more."),
              ProtocolId::kNone);
    std::vector<uint8_t> bad_dib = bmp_header();
    put_le32(bad_dib, 14, 41);
    EXPECT_EQ(identify_bytes(bad_dib), ProtocolId::kNone);
    std::vector<uint8_t> bad_planes = bmp_header();
    put_le16(bad_planes, 26, 3);
    EXPECT_EQ(identify_bytes(bad_planes), ProtocolId::kNone);
}

TEST(ContentIdentify, IcoNeedsSaneEntries) {
    std::vector<uint8_t> reserved = ico_header(1);
    put_le16(reserved, 0, 1);
    EXPECT_EQ(identify_bytes(reserved), ProtocolId::kNone);
    std::vector<uint8_t> cursor = ico_header(1);
    put_le16(cursor, 2, 2);
    EXPECT_EQ(identify_bytes(cursor), ProtocolId::kNone);
    std::vector<uint8_t> no_images = ico_header(1);
    put_le16(no_images, 4, 0);
    EXPECT_EQ(identify_bytes(no_images), ProtocolId::kNone);
    std::vector<uint8_t> offset_inside = ico_header(1);
    put_le32(offset_inside, 6 + 12, 4);
    EXPECT_EQ(identify_bytes(offset_inside), ProtocolId::kNone);
    std::vector<uint8_t> bits = ico_header(1);
    put_le16(bits, 6 + 6, 7);
    EXPECT_EQ(identify_bytes(bits), ProtocolId::kNone);
}

TEST(ContentIdentify, Archives) {
    EXPECT_EQ(identify_text("PK\x03\x04\x14\0\0\0\x08\0"sv), ProtocolId::FILE_ZIP);
    EXPECT_EQ(identify_text("PK\x05\x06\0\0\0\0\0\0\0\0"sv), ProtocolId::FILE_ZIP);
    EXPECT_EQ(identify_text("\x1f\x8b\x08\0\0\0\0\0\0\x03"sv), ProtocolId::FILE_GZIP);
    EXPECT_EQ(identify_text("\x1f\x8b\x09\0"sv), ProtocolId::kNone);
    EXPECT_EQ(identify_text("BZh91AY&SY\x12\x34"sv), ProtocolId::FILE_BZIP2);
    EXPECT_EQ(identify_text("BZh0"sv), ProtocolId::kNone);
    EXPECT_EQ(identify_text("\xfd"
                            "7zXZ\0\0\x04\xe6\xd6"sv),
              ProtocolId::FILE_XZ);
    EXPECT_EQ(identify_text("7z\xbc\xaf\x27\x1c\0\x04"sv), ProtocolId::FILE_7Z);
    EXPECT_EQ(identify_text("Rar!\x1a\x07\0\xcf\x90\x73"sv), ProtocolId::FILE_RAR);
    EXPECT_EQ(identify_text("Rar!\x1a\x07\x01\0\xf3\xe1"sv), ProtocolId::FILE_RAR);
    EXPECT_EQ(identify_text("Rar!\x1a\x07\x02"sv), ProtocolId::kNone);
}

TEST(ContentIdentify, TarFormats) {
    std::vector<uint8_t> ustar = tar_header("readme.txt", '0', 10);
    ustar.resize(1024, 'x');
    EXPECT_EQ(identify_bytes(ustar), ProtocolId::FILE_TAR);

    std::vector<uint8_t> v7 = tar_header("old.txt", '0', 0, false);
    EXPECT_EQ(identify_bytes(v7), ProtocolId::FILE_TAR);

    std::vector<uint8_t> corrupt = tar_header("readme.txt", '0', 10);
    corrupt[0] = 'R';  // the checksum no longer matches
    EXPECT_EQ(identify_bytes(corrupt), ProtocolId::kNone);

    std::vector<uint8_t> pax = tar_header("./PaxHeaders/readme.txt", 'x', 30);
    pax.resize(1024, '\n');
    EXPECT_EQ(identify_bytes(pax), ProtocolId::PAX_EXTENDED_HEADER_DATA);
}

TEST(ContentIdentify, PaxHeaderOfLaterMember) {
    std::vector<uint8_t> archive = tar_header("first.txt", '0', 700);
    archive.resize(512 + 1024, 'a');
    std::vector<uint8_t> pax = tar_header("./PaxHeaders/second", 'x', 20);
    archive.insert(archive.end(), pax.begin(), pax.end());
    EXPECT_EQ(identify_bytes(archive), ProtocolId::PAX_EXTENDED_HEADER_DATA);
}

// An old GNU sparse member whose header flags an extension block of sparse entries, which
// comes before its data (GNU tar's manual, "Old GNU Format").
TEST(ContentIdentify, PaxHeaderAfterSparseMember) {
    std::vector<uint8_t> archive = tar_header("sparse.bin", 'S', 600);
    archive[482] = 1;  // an extension block follows
    // The header's checksum again, with the flag counted.
    std::memset(archive.data() + 148, ' ', 8);
    unsigned sum = 0;
    for (uint8_t byte : archive) sum += byte;
    std::snprintf(reinterpret_cast<char*>(archive.data()) + 148, 8, "%06o", sum);
    std::vector<uint8_t> extension(512, 0);
    extension[504] = 1;  // and another one
    archive.insert(archive.end(), extension.begin(), extension.end());
    extension[504] = 0;
    archive.insert(archive.end(), extension.begin(), extension.end());
    archive.resize(archive.size() + 1024, 's');  // 600 bytes of data in 2 blocks
    std::vector<uint8_t> pax = tar_header("./PaxHeaders/plain.txt", 'x', 20);
    archive.insert(archive.end(), pax.begin(), pax.end());
    EXPECT_EQ(identify_bytes(archive), ProtocolId::PAX_EXTENDED_HEADER_DATA);
}

TEST(ContentIdentify, Video) {
    EXPECT_EQ(identify_text("FLV\x01\x05\0\0\0\x09\0\0\0\0"sv), ProtocolId::VIDEO_FLV);
    EXPECT_EQ(identify_text("FLV\x01\x05\0\0\0\x07"sv), ProtocolId::kNone);
    EXPECT_EQ(identify_text("\0\0\0\x14"
                            "ftypqt  \0\0\x02\0qt  "sv),
              ProtocolId::VIDEO_QUICKTIME);
    EXPECT_EQ(identify_text("\0\0\0\x18"
                            "ftypisom\0\0\x02\0isomiso2"sv),
              ProtocolId::VIDEO_QUICKTIME);
    EXPECT_EQ(identify_text("\0\0\0\x18"
                            "ftypM4A \0\0\x02\0M4A mp42"sv),
              ProtocolId::kNone);
    EXPECT_EQ(identify_text("\0\0\0\x18"
                            "ftypheic\0\0\0\0mif1heic"sv),
              ProtocolId::kNone);
    EXPECT_EQ(identify_text("\0\0\x10\0moov\0\0\0\x6cmvhd"sv), ProtocolId::VIDEO_QUICKTIME);
    EXPECT_EQ(identify_text("\0\0\0\x08wide\0\0\x85\xd7mdat"sv), ProtocolId::VIDEO_QUICKTIME);
    EXPECT_EQ(identify_text("\0\0\0\x08wide\0\0\x85\xd7junk"sv), ProtocolId::kNone);
}

TEST(ContentIdentify, Metafile) {
    std::vector<uint8_t> placeable = {0xd7, 0xcd, 0xc6, 0x9a, 0,    0, 0xe3, 0xf8, 0xad, 0xf6, 0x40,
                                      0,    0x93, 0xfe, 0xe8, 0x03, 0, 0,    0,    0,    0,    0};
    uint16_t checksum = 0;
    for (size_t i = 0; i < 20; i += 2) checksum ^= placeable[i] | placeable[i + 1] << 8;
    put_le16(placeable, 20, checksum);
    EXPECT_EQ(identify_bytes(placeable), ProtocolId::IMAGE_WMF);
    placeable[20] ^= 1;
    EXPECT_EQ(identify_bytes(placeable), ProtocolId::kNone);
    EXPECT_EQ(identify_text("\x01\0\x09\0\0\x03\x01\x38\0\0\x07\0\x84\x07\0\0\0\0"sv),
              ProtocolId::IMAGE_WMF);
    EXPECT_EQ(identify_text("\x01\0\x09\0\0\x03\x01\x38\0\0\x07\0\x84\x07\0\0\x01\0"sv),
              ProtocolId::kNone);
}

TEST(ContentIdentify, OleApplications) {
    constexpr auto kPowerPoint =
        "\x10\x8d\x81\x64\x9b\x4f\xcf\x11\x86\xea\x00\xaa\x00\xb9\x29\xe8"sv;
    constexpr auto kPublisher =
        "\x01\x12\x02\x00\x00\x00\x00\x00\xc0\x00\x00\x00\x00\x00\x00\x46"sv;
    constexpr auto kVisio = "\x14\x1a\x02\x00\x00\x00\x00\x00\xc0\x00\x00\x00\x00\x00\x00\x46"sv;
    constexpr auto kWord = "\x06\x09\x02\x00\x00\x00\x00\x00\xc0\x00\x00\x00\x00\x00\x00\x46"sv;
    constexpr auto kZero = "\0\0\0\0\0\0\0\0\0\0\0\0\0\0\0\0"sv;
    EXPECT_EQ(identify_bytes(ole_file(kPowerPoint, u"Pictures")),
              ProtocolId::APPLICATION_MSPOWERPOINT);
    EXPECT_EQ(identify_bytes(ole_file(kPublisher, u"Contents")),
              ProtocolId::APPLICATION_MSPUBLISHER);
    EXPECT_EQ(identify_bytes(ole_file(kVisio, u"Other")), ProtocolId::APPLICATION_MSVISIO);
    EXPECT_EQ(identify_bytes(ole_file(kZero, u"PowerPoint Document")),
              ProtocolId::APPLICATION_MSPOWERPOINT);
    EXPECT_EQ(identify_bytes(ole_file(kZero, u"VisioDocument")), ProtocolId::APPLICATION_MSVISIO);
    EXPECT_EQ(identify_bytes(ole_file(kWord, u"WordDocument")), ProtocolId::kNone);
}

TEST(ContentIdentify, OleHeaderChecked) {
    std::vector<uint8_t> file =
        ole_file("\x10\x8d\x81\x64\x9b\x4f\xcf\x11\x86\xea\x00\xaa\x00\xb9\x29\xe8"sv,
                 u"PowerPoint Document");
    put_le16(file, 30, 10);  // a sector size neither version allows
    EXPECT_EQ(identify_bytes(file), ProtocolId::kNone);
    file = ole_file("", u"PowerPoint Document");
    put_le32(file, 48, 0xfffffffe);  // end of chain as the directory sector
    EXPECT_EQ(identify_bytes(file), ProtocolId::kNone);
}

TEST(ContentIdentify, Documents) {
    EXPECT_EQ(identify_text("%!PS-Adobe-3.0\n%%BoundingBox: 18 36 577 806\n"),
              ProtocolId::APPLICATION_POSTSCRIPT);
    // Ghostscript's library files open with "%!" alone.
    EXPECT_EQ(identify_text("%!\n% Copyright (C) 2001-2023 Artifex Software, Inc.\n"),
              ProtocolId::APPLICATION_POSTSCRIPT);
    EXPECT_EQ(identify_text("{\\rtf1\\ansi\\deff0{\\fonttbl}}"), ProtocolId::APPLICATION_RTF);
    EXPECT_EQ(identify_text("[playlist]\nNumberOfEntries=1\nFile1=http://127.0.0.1/a.mp3\n"),
              ProtocolId::FILE_PLS);
    EXPECT_EQ(identify_text("[playlist]\nname=not a pls file\n"), ProtocolId::kNone);
    EXPECT_EQ(identify_text("d8:announce30:http://127.0.0.1:6969/announce4:infod6:lengthi5e"
                            "4:name1:a12:piece lengthi16384e6:pieces20:"),
              ProtocolId::FILE_TORRENT);
    EXPECT_EQ(identify_text("d4:infod6:lengthi5ee"), ProtocolId::FILE_TORRENT);
    EXPECT_EQ(identify_text("d8:completei3e10:incompletei1e8:intervali1800ee"), ProtocolId::kNone);
}

TEST(ContentIdentify, Markup) {
    EXPECT_EQ(identify_text("<!DOCTYPE html>\n<html><body></body></html>"), ProtocolId::HTML);
    EXPECT_EQ(identify_text("\n\n<HTML>\n<HEAD><TITLE>x</TITLE>"), ProtocolId::HTML);
    EXPECT_EQ(identify_text("some words\n<a href=\"/x\">link</a>"), ProtocolId::HTML);
    EXPECT_EQ(identify_text("<header>is not head</header><p>x</p>"), ProtocolId::kNone);
    EXPECT_EQ(identify_text("<table><tr><td>$(x)</td></tr></table>\n<script>var a = 1;\n"
                            "$(function() {\n});\n</script>"),
              ProtocolId::HTML);
    EXPECT_EQ(identify_text("<?xml version=\"1.0\"?>\n<rss><title>t</title></rss>"),
              ProtocolId::XML);
    EXPECT_EQ(identify_text("\xef\xbb\xbf<?xml version='1.0'?><a/>"), ProtocolId::XML);
    EXPECT_EQ(identify_text("<?xml-stylesheet href=\"doc.xsl\"?>\n<doc/>"), ProtocolId::XML);
    EXPECT_EQ(identify_text("<svg xmlns=\"http://www.w3.org/2000/svg\"><title>t</title></svg>"),
              ProtocolId::XML);
    EXPECT_EQ(identify_text("\xff\xfe<\0?\0x\0m\0l\0 \0"sv), ProtocolId::XML);
}

TEST(ContentIdentify, Shebangs) {
    EXPECT_EQ(identify_text("#!/bin/sh\necho hi\n"), ProtocolId::FILE_SHELL_SCRIPT);
    EXPECT_EQ(identify_text("#!/usr/bin/env bash\n"), ProtocolId::FILE_SHELL_SCRIPT);
    EXPECT_EQ(identify_text("#! /bin/zsh -f\n"), ProtocolId::FILE_SHELL_SCRIPT);
    EXPECT_EQ(identify_text("#!/usr/bin/python3\nimport os\n"), ProtocolId::FILE_PY);
    EXPECT_EQ(identify_text("#!/usr/bin/env -S python3.11 -u\n"), ProtocolId::FILE_PY);
    EXPECT_EQ(identify_text("#!/usr/bin/env node\n"), ProtocolId::FILE_JS);
    EXPECT_EQ(identify_text("#!/usr/bin/perl\nprint 1;\n"), ProtocolId::kNone);
    // Perl's POD names HTML tags in its text: the #! line decides.
    EXPECT_EQ(identify_text("#!/usr/bin/perl\n\n=head1 NAME\n\nlwp-request\n\nC<html> "
                            "C<<head>> and C<<body>> of the page\n\n=cut\n"),
              ProtocolId::kNone);
    EXPECT_EQ(identify_text("#!/usr/bin/env ruby\nputs '<html><body>hi</body></html>'\n"),
              ProtocolId::kNone);
}

TEST(ContentIdentify, PhpSourceIsNoOtherFormat) {
    EXPECT_EQ(identify_text("<?php\nfunction setup($config) {\n  var_dump(array_map(function "
                            "($x) { return $x; }, $config));\n}\n"),
              ProtocolId::kNone);
    EXPECT_EQ(identify_text("<?PHP echo 1; ?>\n<html><head><title>t</title></head></html>\n"),
              ProtocolId::kNone);
    EXPECT_EQ(identify_text("<?= $title ?>\n<script>var x = 1;</script>\n"), ProtocolId::kNone);
    // A page that opens with HTML stays HTML, whatever code it contains later.
    EXPECT_EQ(identify_text("<!DOCTYPE html>\n<html><body><?php echo 1; ?></body></html>\n"),
              ProtocolId::HTML);
}

TEST(ContentIdentify, ScriptsWithoutShebang) {
    EXPECT_EQ(identify_text("import os\nimport sys\n\ndef main():\n    print(sys.argv)\n"),
              ProtocolId::FILE_PY);
    EXPECT_EQ(identify_text("class Timer:\n    def __init__(self):\n        self.t = 0\n"),
              ProtocolId::FILE_PY);
    EXPECT_EQ(identify_text("const { relative } = require('node:path')\n"
                            "const f = (a) => a === 1\n"),
              ProtocolId::FILE_JS);
    EXPECT_EQ(identify_text("\"use strict\";\nfunction ready(cb) {\n  document.addEventListener("
                            "'load', cb);\n}\n"),
              ProtocolId::FILE_JS);
    EXPECT_EQ(identify_text("' compare two files\nDim objArgs\nSet objArgs = WScript.Arguments\n"
                            "If objArgs.Count < 2 Then\n  WScript.Quit 1\nEnd If\n"),
              ProtocolId::FILE_VBS);
    EXPECT_EQ(identify_text("On Error Resume Next\nSet sh = CreateObject(\"WScript.Shell\")\n"),
              ProtocolId::FILE_VBS);
    EXPECT_EQ(identify_text("/* sidebar */\nSplunk.Layout = $.klass({\n  initialize: function() {\n"
                            "    $('<a href=\"#\">open</a>').prependTo(x);\n  }\n});\n"),
              ProtocolId::FILE_JS);
}

// Modules that hold nothing but imports and exports, which only their language writes so.
TEST(ContentIdentify, ModulesOfImportsAlone) {
    EXPECT_EQ(identify_text("from .models import sns_backends\nfrom ..core import base\n"),
              ProtocolId::FILE_PY);
    EXPECT_EQ(identify_text("# Deprecated alias.\n\nfrom xml.etree.ElementTree import *\n"),
              ProtocolId::FILE_PY);
    EXPECT_EQ(identify_text("from __future__ import annotations\n\nREGIONS = {\n  'a': 1,\n}\n"),
              ProtocolId::FILE_PY);
    EXPECT_EQ(identify_text("import { use } from '../extension.js';\nuse(install);\n"),
              ProtocolId::FILE_JS);
    EXPECT_EQ(identify_text("export * from './zrender.js';\nexport { a, b } from './x.js';\n"),
              ProtocolId::FILE_JS);
    EXPECT_EQ(identify_text("module.exports = {\n  short: 'corto',\n};\n"), ProtocolId::FILE_JS);
    // A generated one-line script whose strings hold markup stays a script.
    EXPECT_EQ(identify_text("(function() {var impls = {\"core\":[\"<a href=\\\"x.html\\\">Result"
                            "</a>\"]};\nif (window.register) { window.register(impls); }\n"),
              ProtocolId::FILE_JS);
    // A README that shows an import in an example is no script.
    EXPECT_EQ(
        identify_text("# Widgets\n\nInstall it, then:\n\n```js\nimport { w } from 'widgets';\n"
                      "```\n"),
        ProtocolId::kNone);
    // A shell profile's export lines are not JavaScript's.
    EXPECT_EQ(identify_text("export PATH=/usr/local/bin:$PATH\nexport EDITOR=vi\n"),
              ProtocolId::kNone);
}

TEST(ContentIdentify, PlainTextIsNothing) {
    EXPECT_EQ(identify_text(""), ProtocolId::kNone);
    EXPECT_EQ(identify_text("Hello, this is a letter.\nFor example: three lines.\nThe end.\n"),
              ProtocolId::kNone);
    EXPECT_EQ(identify_text("{\"announce\": \"http://x\", \"info\": {}}"), ProtocolId::kNone);
    EXPECT_EQ(identify_text("int main(void) {\n  return 0;\n}\n"), ProtocolId::kNone);
}

TEST(ContentIdentify, TruncatedHeadsDoNotCrash) {
    const std::vector<std::string_view> prefixes = {"\x89PNG\r\n\x1a\n\0\0\0\rIHDR"sv,
                                                    "BM\x4e\x26\0\0\0\0\0\0\x36\0\0\0\x28\0\0\0"sv,
                                                    "\0\0\x01\0\x02\0\x20\x20"sv,
                                                    "\xd0\xcf\x11\xe0\xa1\xb1\x1a\xe1"sv,
                                                    "\0\0\0\x14"
                                                    "ftypqt"sv,
                                                    "d8:announce30:http"sv,
                                                    "\xd7\xcd\xc6\x9a\0\0"sv,
                                                    "FLV\x01\x05"sv,
                                                    "II+\0\x08\0"sv};
    for (std::string_view whole : prefixes) {
        for (size_t n = 0; n <= whole.size(); ++n) identify_text(whole.substr(0, n));
    }
    SUCCEED();
}

}  // namespace
}  // namespace pw::content
