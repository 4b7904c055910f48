// TensorBoard event files: CRC-32C against RFC 3720's vectors, TFRecord framing by hand, and a
// written file read back record by record and parsed into Event messages.
#include "support/catch.h"

#include <filesystem>
#include <fstream>
#include <string>
#include <vector>

#include "support/paths.h"
#include "tensorboard_event.pb.h"
#include "zeroth/core/error.h"
#include "zeroth/core/fs.h"
#include "zeroth/train/tensorboard.h"

using namespace zeroth;
using namespace zeroth::train;
using zeroth::testing::TempDir;

namespace {

uint32_t crc_of(const std::vector<unsigned char>& bytes) { return crc32c(bytes.data(), bytes.size()); }

std::string only_event_file(const std::string& dir) {
  std::vector<std::string> files;
  for (const auto& e : std::filesystem::directory_iterator(dir)) files.push_back(e.path().string());
  REQUIRE(files.size() == 1);
  return files[0];
}

}  // namespace

TEST_CASE("crc32c: RFC 3720 B.4 test vectors", "[train][tensorboard]") {
  std::vector<unsigned char> zeros(32, 0x00), ones(32, 0xFF), up(32), down(32);
  for (int i = 0; i < 32; ++i) {
    up[i] = static_cast<unsigned char>(i);
    down[i] = static_cast<unsigned char>(31 - i);
  }
  CHECK(crc_of(zeros) == 0x8A9136AAu);
  CHECK(crc_of(ones) == 0x62A8AB43u);
  CHECK(crc_of(up) == 0x46DD794Eu);
  CHECK(crc_of(down) == 0x113FDB5Cu);
  // An iSCSI SCSI Read (10) command PDU, RFC 3720 B.4.
  std::vector<unsigned char> pdu = {0x01, 0xc0, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00,
                                    0x00, 0x00, 0x00, 0x00, 0x14, 0x00, 0x00, 0x00, 0x00, 0x00, 0x04, 0x00,
                                    0x00, 0x00, 0x00, 0x14, 0x00, 0x00, 0x00, 0x18, 0x28, 0x00, 0x00, 0x00,
                                    0x00, 0x00, 0x00, 0x00, 0x02, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00};
  CHECK(crc_of(pdu) == 0xD9963A56u);
  // The common check value of CRC-32C.
  CHECK(crc32c("123456789", 9) == 0xE3069283u);
  CHECK(crc32c("", 0) == 0x00000000u);
}

TEST_CASE("masked_crc32c: rotate right 15, add 0xa282ead8", "[train][tensorboard]") {
  // crc("123456789") = 0xE3069283; ror15 = (0xE3069283 >> 15) | (0xE3069283 << 17) mod 2^32
  //   = 0x0001C60D | 0x25060000 = 0x2507C60D; + 0xa282ead8 = 0xC78AB0E5.
  CHECK(masked_crc32c("123456789", 9) == 0xC78AB0E5u);
}

TEST_CASE("tfrecord_frame: little-endian length, its masked CRC, data, data's masked CRC", "[train][tensorboard]") {
  std::string framed = tfrecord_frame("123456789");
  REQUIRE(framed.size() == 8 + 4 + 9 + 4);
  CHECK(framed.substr(0, 8) == std::string("\x09\0\0\0\0\0\0\0", 8));
  uint32_t length_crc = masked_crc32c(framed.data(), 8);
  std::string expected_length_crc = {static_cast<char>(length_crc & 0xFF), static_cast<char>((length_crc >> 8) & 0xFF),
                                     static_cast<char>((length_crc >> 16) & 0xFF), static_cast<char>(length_crc >> 24)};
  CHECK(framed.substr(8, 4) == expected_length_crc);
  CHECK(framed.substr(12, 9) == "123456789");
  CHECK(framed.substr(21, 4) == std::string("\xE5\xB0\x8A\xC7", 4));  // 0xC78AB0E5, little-endian
}

TEST_CASE("read_tfrecords: round trip, truncated tail dropped, damage reported with offset", "[train][tensorboard]") {
  TempDir dir;
  std::string path = dir.file("r.tfrecord");
  std::string a = tfrecord_frame("first"), b = tfrecord_frame(std::string(1000, 'x')), c = tfrecord_frame("");
  write_file_atomic(path, a + b + c);
  auto records = read_tfrecords(path);
  REQUIRE(records.size() == 3);
  CHECK(records[0] == "first");
  CHECK(records[1] == std::string(1000, 'x'));
  CHECK(records[2].empty());

  write_file_atomic(path, a + b.substr(0, 500));  // a writer stopped mid-record
  CHECK(read_tfrecords(path).size() == 1);

  std::string damaged = a + b;
  damaged[a.size() + 12 + 10] = 'y';  // one byte of the second record's data
  write_file_atomic(path, damaged);
  REQUIRE_THROWS_WITH(read_tfrecords(path), Catch::Contains("byte " + std::to_string(a.size())) &&
                                                Catch::Contains("data CRC mismatch"));
  write_file_atomic(path, "this is not a tfrecord file at all");
  REQUIRE_THROWS_WITH(read_tfrecords(path), Catch::Contains("r.tfrecord: byte 0: record length CRC mismatch"));
}

TEST_CASE("TensorBoardWriter: file name, version event, scalars and text read back", "[train][tensorboard]") {
  CHECK(tensorboard_file_name(1700000000, "node-1") == "events.out.tfevents.1700000000.node-1");
  TempDir dir;
  std::string log_dir = dir.file("grpo");
  std::string path;
  {
    TensorBoardWriter writer(log_dir);
    path = writer.path();
    writer.add_scalars(3, Json::parse(R"({"step": 3, "reward_mean": 0.25, "kl": 0.0125, "lr": 1e-6,
                                          "reward": {"format": 0.5}, "note": "skipped", "nan": null})"));
    writer.add_scalar("accuracy", 4, 0.75);
    writer.add_scalar("bad", 4, std::nan(""));  // skipped: no event at all
    writer.add_text("samples/0", 4, "<think>2+2</think><answer>4</answer> \xC3\xA9");
  }
  CHECK(std::filesystem::path(path).parent_path() == std::filesystem::path(log_dir));
  CHECK(std::filesystem::path(path).filename().string().rfind("events.out.tfevents.", 0) == 0);
  CHECK(only_event_file(log_dir) == path);

  auto records = read_tfrecords(path);
  REQUIRE(records.size() == 4);
  std::vector<zeroth::tensorboard::Event> events(records.size());
  for (size_t i = 0; i < records.size(); ++i) REQUIRE(events[i].ParseFromString(records[i]));

  CHECK(events[0].file_version() == "brain.Event:2");
  CHECK(events[0].wall_time() > 1.6e9);  // seconds since 1970, not a steady clock

  const auto& scalars = events[1];
  CHECK(scalars.step() == 3);
  REQUIRE(scalars.has_summary());
  REQUIRE(scalars.summary().value_size() == 4);  // "step", strings and nulls are not scalars
  CHECK(scalars.summary().value(0).tag() == "reward_mean");
  CHECK(scalars.summary().value(0).simple_value() == 0.25f);
  CHECK(scalars.summary().value(1).tag() == "kl");
  CHECK(scalars.summary().value(1).simple_value() == 0.0125f);
  CHECK(scalars.summary().value(2).tag() == "lr");
  CHECK(scalars.summary().value(2).simple_value() == 1e-6f);
  CHECK(scalars.summary().value(3).tag() == "reward/format");
  CHECK(scalars.summary().value(3).simple_value() == 0.5f);

  CHECK(events[2].step() == 4);
  REQUIRE(events[2].summary().value_size() == 1);
  CHECK(events[2].summary().value(0).tag() == "accuracy");
  CHECK(events[2].summary().value(0).simple_value() == 0.75f);

  const auto& text = events[3].summary().value(0);
  CHECK(events[3].step() == 4);
  CHECK(text.tag() == "samples/0");
  CHECK(text.metadata().plugin_data().plugin_name() == "text");
  CHECK(text.tensor().dtype() == zeroth::tensorboard::DT_STRING);
  REQUIRE(text.tensor().tensor_shape().dim_size() == 1);
  CHECK(text.tensor().tensor_shape().dim(0).size() == 1);
  REQUIRE(text.tensor().string_val_size() == 1);
  CHECK(text.tensor().string_val(0) == "<think>2+2</think><answer>4</answer> \xC3\xA9");
}

TEST_CASE("TensorBoardWriter: scalar events carry the wire bytes TensorBoard expects", "[train][tensorboard]") {
  // Hand-encoded Summary.Value{tag: "kl" (field 1), simple_value: 0.5f (field 2, fixed32)}:
  //   0a 02 'k' 'l'   15 00 00 00 3f
  TempDir dir;
  TensorBoardWriter writer(dir.path());
  writer.add_scalar("kl", 7, 0.5);
  auto records = read_tfrecords(writer.path());
  REQUIRE(records.size() == 2);
  const std::string value_bytes("\x0a\x02kl\x15\x00\x00\x00\x3f", 9);
  // Summary{value (field 1, bytes)} = 0a 09 <value>; Event{summary = field 5, bytes} = 2a 0b <summary>.
  const std::string summary_field = std::string("\x2a\x0b\x0a\x09", 4) + value_bytes;
  CHECK(records[1].find(summary_field) != std::string::npos);
  CHECK(records[1].find(std::string("\x10\x07", 2)) != std::string::npos);  // step = 7 (field 2, varint)
  CHECK(static_cast<unsigned char>(records[1][0]) == 0x09);                  // wall_time: field 1, fixed64
}

TEST_CASE("format_samples_markdown: prompt once per group, figures, fenced completions", "[train][tensorboard]") {
  std::vector<Json> samples = {
      Json::parse(R"({"step": 2, "prompt": "2+2?", "completion": "<think>4</think><answer>4</answer>",
                      "rewards": {"accuracy": 1.0}, "reward": 1.0, "advantage": 0.5, "answer": "4"})"),
      Json::parse(R"({"step": 2, "prompt": "2+2?", "completion": "use ``` fences", "reward": 0, "answer": "4"})"),
      Json::parse(R"({"step": 2, "prompt": "3+3?", "completion": "6", "answer": 6})")};
  std::string md = format_samples_markdown(samples);
  CHECK(md ==
        "### prompt\n\n```\n2+2?\n```\n\ngold answer: `4`\n\n"
        "**completion 0** · reward 1.0 · advantage 0.5 · accuracy 1.0\n\n```\n<think>4</think><answer>4</answer>\n```\n\n"
        "**completion 1** · reward 0\n\n````\nuse ``` fences\n````\n\n"
        "\n### prompt\n\n```\n3+3?\n```\n\ngold answer: `6`\n\n"
        "**completion 0**\n\n```\n6\n```\n\n");
}
