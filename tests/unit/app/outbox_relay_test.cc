#include "app/outbox_relay.h"

#include <gtest/gtest.h>
#include <unistd.h>

#include <chrono>
#include <filesystem>
#include <fstream>
#include <string>
#include <thread>
#include <vector>

#include "iocstream/alert/outbox_message.h"
#include "unit/alert/typical_alert.h"
#include "unit/state/temp_dir.h"

namespace iocstream::app {
namespace {

using state::testing::TempDir;

std::vector<std::string> Lines(const std::string& path) {
  std::ifstream in(path);
  std::vector<std::string> lines;
  for (std::string line; std::getline(in, line);) lines.push_back(line);
  return lines;
}

std::string Alert(int i) {
  alert::OutboxMessage m;
  m.kind = alert::OutboxKind::kAlert;
  m.key = "d-" + std::to_string(i);
  m.value = R"({"alert":)" + std::to_string(i) + "}";
  return alert::EncodeOutboxMessage(m);
}

class FileOutboxRelayTest : public ::testing::Test {
 protected:
  void SetUp() override {
    state::StateStoreOptions options;
    options.path = dir_.Sub("state");
    auto store = state::StateStore::Open(options);
    ASSERT_TRUE(store.has_value()) << store.error().message;
    store_ = std::move(*store);
  }

  // One commit appending alerts [from, to) to the outbox.
  // Opens a relay on the two files, drains the outbox into them, and closes it.
  void DrainIntoFiles() {
    auto relay = FileOutboxRelay::Open(*store_, dir_.Sub("alerts.ndjson"),
                                       dir_.Sub("dead-letters.ndjson"), probe_);
    ASSERT_TRUE(relay.has_value()) << relay.error().message;
    ASSERT_TRUE((*relay)->Drain());
  }

  void CommitAlerts(int from, int to) {
    state::StateBatch batch = store_->NewBatch();
    for (int i = from; i < to; ++i) batch.AppendOutbox(Alert(i));
    ASSERT_TRUE(store_->Commit(std::move(batch)));
  }

  TempDir dir_;
  std::unique_ptr<state::StateStore> store_;
  RelayProbe probe_;
};

TEST_F(FileOutboxRelayTest, ItsThreadMovesEveryCommittedEntryInOrderWhileCommitsGoOn) {
  auto relay = FileOutboxRelay::Open(*store_, dir_.Sub("alerts.ndjson"),
                                     dir_.Sub("dead-letters.ndjson"), probe_);
  ASSERT_TRUE(relay.has_value()) << relay.error().message;
  ASSERT_TRUE((*relay)->Start());
  // Commits from this thread while the relay reads and deletes the outbox on its own.
  constexpr int kCommits = 200;
  constexpr int kPerCommit = 37;
  for (int c = 0; c < kCommits; ++c) {
    CommitAlerts(c * kPerCommit, (c + 1) * kPerCommit);
    (*relay)->Notify();
    ASSERT_TRUE((*relay)->status());
    if (c % 50 == 0) std::this_thread::yield();
  }
  // The thread moves them all by itself (Stop would drain the rest on this thread).
  const auto deadline = std::chrono::steady_clock::now() + std::chrono::seconds(30);
  while (probe_.alerts_published.load() < uint64_t{kCommits * kPerCommit} &&
         std::chrono::steady_clock::now() < deadline) {
    std::this_thread::sleep_for(std::chrono::milliseconds(5));
  }
  EXPECT_EQ(probe_.alerts_published.load(), uint64_t{kCommits * kPerCommit});
  ASSERT_TRUE((*relay)->Stop());

  const std::vector<std::string> lines = Lines(dir_.Sub("alerts.ndjson"));
  ASSERT_EQ(lines.size(), size_t{kCommits * kPerCommit});
  for (int i = 0; i < kCommits * kPerCommit; ++i) {
    ASSERT_EQ(lines[static_cast<size_t>(i)], R"({"alert":)" + std::to_string(i) + "}") << i;
  }
  EXPECT_EQ(probe_.alerts_published.load(), uint64_t{kCommits * kPerCommit});
  auto left = store_->ReadOutbox(10);
  ASSERT_TRUE(left.has_value());
  EXPECT_TRUE(left->empty());
  EXPECT_TRUE(Lines(dir_.Sub("dead-letters.ndjson")).empty());
}

TEST_F(FileOutboxRelayTest, AnEntryItCannotReadStopsItsThreadAndStaysInTheStore) {
  CommitAlerts(0, 3);
  {
    state::StateBatch batch = store_->NewBatch();
    batch.AppendOutbox("\x7f not an outbox message");
    ASSERT_TRUE(store_->Commit(std::move(batch)));
  }
  {
    auto relay = FileOutboxRelay::Open(*store_, dir_.Sub("alerts.ndjson"),
                                       dir_.Sub("dead-letters.ndjson"), probe_);
    ASSERT_TRUE(relay.has_value()) << relay.error().message;
    // Start's first drain (on the calling thread) stops at it, and no thread starts.
    const Status started = (*relay)->Start();
    ASSERT_FALSE(started);
    EXPECT_EQ(started.error().code, ErrorCode::kCorruption) << started.error().message;
    EXPECT_NE(started.error().message.find("outbox entry 4"), std::string::npos)
        << started.error().message;
    const Status stopped = (*relay)->Stop();
    ASSERT_FALSE(stopped);
    EXPECT_EQ(stopped.error().message, started.error().message);
  }
  // The page holding the bad entry stays whole in the store; the files got none of it (the
  // relay is gone, so its streams are flushed and closed).
  EXPECT_TRUE(Lines(dir_.Sub("alerts.ndjson")).empty());
  EXPECT_EQ(probe_.alerts_published.load(), 0u);
  auto left = store_->ReadOutbox(10);
  ASSERT_TRUE(left.has_value());
  EXPECT_EQ(left->size(), 4u);
}

// An entry committed after Start that the thread cannot read stops its draining; the error
// is kept for the pipeline thread (status) and returned by Stop.
TEST_F(FileOutboxRelayTest, AnEntryItsThreadCannotReadIsKeptAsItsStatus) {
  auto relay = FileOutboxRelay::Open(*store_, dir_.Sub("alerts.ndjson"),
                                     dir_.Sub("dead-letters.ndjson"), probe_);
  ASSERT_TRUE(relay.has_value()) << relay.error().message;
  ASSERT_TRUE((*relay)->Start());
  {
    state::StateBatch batch = store_->NewBatch();
    batch.AppendOutbox("\x7f not an outbox message");
    ASSERT_TRUE(store_->Commit(std::move(batch)));
  }
  (*relay)->Notify();
  Status status;
  for (int i = 0; i < 500 && status; ++i) {
    std::this_thread::sleep_for(std::chrono::milliseconds(10));
    status = (*relay)->status();
  }
  ASSERT_FALSE(status);
  EXPECT_EQ(status.error().code, ErrorCode::kCorruption) << status.error().message;
  const Status stopped = (*relay)->Stop();
  ASSERT_FALSE(stopped);
  EXPECT_EQ(stopped.error().message, status.error().message);
}

// Commits write alerts to the file themselves (CommitAlertSink) with its length in their
// batch; an earlier stop's alerts in the outbox are moved first (Start). After a stop whose
// last commit was lost (no flush: the store comes back to the one before), the lines of that
// commit are cut off when the relay is opened again, and the replay raises them again: each
// alert once. The sink position takes precedence over the relay's length of the file, which
// the relay's thread read while commits appended.
TEST_F(FileOutboxRelayTest, CommitsWriteTheirAlertsWithTheFileLengthInTheirBatch) {
  CommitAlerts(0, 2);  // an earlier stop's
  uint64_t length_after_commit = 0;
  {
    auto relay = FileOutboxRelay::Open(*store_, dir_.Sub("alerts.ndjson"),
                                       dir_.Sub("dead-letters.ndjson"), probe_);
    ASSERT_TRUE(relay.has_value()) << relay.error().message;
    ASSERT_TRUE((*relay)->Start());
    EXPECT_EQ(Lines(dir_.Sub("alerts.ndjson")),
              (std::vector<std::string>{R"({"alert":0})", R"({"alert":1})"}));
    // A commit: its alerts to the file, a dead letter to the outbox.
    ASSERT_TRUE((*relay)->WriteAlerts("{\"alert\":2}\n{\"alert\":3}\n", 2));
    auto position = (*relay)->Position();
    ASSERT_TRUE(position.has_value()) << position.error().message;
    length_after_commit = std::filesystem::file_size(dir_.Sub("alerts.ndjson"));
    {
      state::StateBatch batch = store_->NewBatch();
      alert::OutboxMessage dead;
      dead.kind = alert::OutboxKind::kDeadLetter;
      dead.key = "d-x";
      dead.value = "not json";
      batch.AppendOutbox(alert::EncodeOutboxMessage(dead));
      batch.PutSinkPosition(*position);
      ASSERT_TRUE(store_->Commit(std::move(batch)));
    }
    (*relay)->Notify();
    // The next commit's alerts are written, its batch never is (a crash before its write).
    ASSERT_TRUE((*relay)->WriteAlerts("{\"alert\":4}\n", 1));
    ASSERT_TRUE((*relay)->Stop());
    EXPECT_EQ(probe_.alerts_published.load(), 5u);
    EXPECT_EQ(Lines(dir_.Sub("dead-letters.ndjson")).size(), 1u);
  }
  auto sink = store_->GetSinkPosition();
  ASSERT_TRUE(sink.has_value());
  ASSERT_TRUE(sink->has_value());
  EXPECT_EQ((*sink)->size(), 8u);
  {
    auto relay = FileOutboxRelay::Open(*store_, dir_.Sub("alerts.ndjson"),
                                       dir_.Sub("dead-letters.ndjson"), probe_);
    ASSERT_TRUE(relay.has_value()) << relay.error().message;
  }
  EXPECT_EQ(std::filesystem::file_size(dir_.Sub("alerts.ndjson")), length_after_commit);
  EXPECT_EQ(Lines(dir_.Sub("alerts.ndjson")),
            (std::vector<std::string>{R"({"alert":0})", R"({"alert":1})", R"({"alert":2})",
                                      R"({"alert":3})"}));
  EXPECT_EQ(Lines(dir_.Sub("dead-letters.ndjson")).size(), 1u);
}

// Commits and the relay must not both append alerts to the file: once commits write them,
// an alert found in the outbox is an internal error of the relay's drain, and stays there.
TEST_F(FileOutboxRelayTest, AnAlertInTheOutboxOnceCommitsWriteAlertsIsAnError) {
  auto relay = FileOutboxRelay::Open(*store_, dir_.Sub("alerts.ndjson"),
                                     dir_.Sub("dead-letters.ndjson"), probe_);
  ASSERT_TRUE(relay.has_value()) << relay.error().message;
  ASSERT_TRUE((*relay)->Start());
  ASSERT_TRUE((*relay)->WriteAlerts("{\"alert\":0}\n", 1));
  CommitAlerts(1, 2);
  const Status stopped = (*relay)->Stop();
  ASSERT_FALSE(stopped);
  EXPECT_EQ(stopped.error().code, ErrorCode::kInternal) << stopped.error().message;
  EXPECT_EQ(store_->ReadOutbox(10)->size(), 1u);
  EXPECT_EQ(Lines(dir_.Sub("alerts.ndjson")), (std::vector<std::string>{R"({"alert":0})"}));
}

// A write cut short (full disk, kill -9) leaves a partial last line; its entries are still in
// the outbox. Opening the relay cuts it off, so the next line does not merge with it.
TEST_F(FileOutboxRelayTest, APartialLastLineIsCutOffBeforeAppending) {
  {
    std::ofstream f(dir_.Sub("alerts.ndjson"), std::ios::binary);
    // The torn tail spans several of the blocks the repair reads back from the end.
    f << R"({"alert":-2})" << '\n'
      << R"({"alert":-1})" << '\n'
      << R"({"alert":0,"detail":")" << std::string(150000, 'x');
  }
  {
    std::ofstream f(dir_.Sub("dead-letters.ndjson"), std::ios::binary);
    f << R"({"reason":"inval)";  // not one whole line
  }
  CommitAlerts(0, 3);
  DrainIntoFiles();
  EXPECT_EQ(Lines(dir_.Sub("alerts.ndjson")),
            (std::vector<std::string>{R"({"alert":-2})", R"({"alert":-1})", R"({"alert":0})",
                                      R"({"alert":1})", R"({"alert":2})"}));
  EXPECT_EQ(std::filesystem::file_size(dir_.Sub("dead-letters.ndjson")), 0u);
}

// A last line that is whole JSON only lost its line feed (an editor, `truncate -s -1`): it was
// delivered, and its entry is gone from the outbox. Cutting it off lost that alert for good
// (a QA trial); it is ended with a line feed and kept, and the next lines follow it.
TEST_F(FileOutboxRelayTest, AWholeLastLineWithoutItsLineFeedIsKept) {
  {
    std::ofstream f(dir_.Sub("alerts.ndjson"), std::ios::binary);
    f << R"({"alert":-2})" << '\n' << R"({"alert":-1})";
  }
  CommitAlerts(0, 2);
  DrainIntoFiles();
  EXPECT_EQ(Lines(dir_.Sub("alerts.ndjson")),
            (std::vector<std::string>{R"({"alert":-2})", R"({"alert":-1})", R"({"alert":0})",
                                      R"({"alert":1})"}));
}

// A failed write names the file and why, and leaves the page in the store.
TEST_F(FileOutboxRelayTest, AFailedWriteNamesTheFileAndKeepsTheEntries) {
  if (::access("/dev/full", W_OK) != 0) GTEST_SKIP() << "no writable /dev/full";
  CommitAlerts(0, 5);
  auto relay = FileOutboxRelay::Open(*store_, "/dev/full", dir_.Sub("dead-letters.ndjson"), probe_);
  ASSERT_TRUE(relay.has_value()) << relay.error().message;
  const Status s = (*relay)->Drain();
  ASSERT_FALSE(s);
  EXPECT_EQ(s.error().code, ErrorCode::kIo);
  EXPECT_NE(s.error().message.find("writing /dev/full failed: No space left on device"),
            std::string::npos)
      << s.error().message;
  EXPECT_EQ(probe_.alerts_published.load(), 0u);
  auto left = store_->ReadOutbox(10);
  ASSERT_TRUE(left.has_value());
  EXPECT_EQ(left->size(), 5u);
}

// A payload dead-lettered for its invalid UTF-8 was written with U+FFFD in place of its bad
// bytes: the file lost them (found by a helper). They are kept exactly in payload_base64
// (and key_base64), next to the readable text; valid UTF-8 gets no base64 copy.
TEST_F(FileOutboxRelayTest, DeadLettersKeepBytesThatAreNotUtf8InBase64) {
  const std::vector<std::pair<std::string, std::string>> cases = {
      {"ok-key", "{\"caf\xC3\xA9\":1}"},  // valid UTF-8: no base64 copy
      {"k", "{\"a\":\"\xFF\"}"},          // 8 bytes
      {"k2", "\xC3"},                     // 1 byte: padding ==
      {"k3", "\x80\x81"},                 // 2 bytes: padding =
      {"\xFEkey", "{}"},                  // the key is kept too
  };
  {
    state::StateBatch batch = store_->NewBatch();
    for (const auto& [key, value] : cases) {
      alert::OutboxMessage m;
      m.kind = alert::OutboxKind::kDeadLetter;
      m.key = key;
      m.value = value;
      m.headers = {{"iocstream.dlq.reason", "malformed_json"}};
      batch.AppendOutbox(alert::EncodeOutboxMessage(m));
    }
    ASSERT_TRUE(store_->Commit(std::move(batch)));
  }
  auto relay = FileOutboxRelay::Open(*store_, dir_.Sub("alerts.ndjson"),
                                     dir_.Sub("dead-letters.ndjson"), probe_);
  ASSERT_TRUE(relay.has_value()) << relay.error().message;
  ASSERT_TRUE((*relay)->Drain());
  const std::vector<std::string> lines = Lines(dir_.Sub("dead-letters.ndjson"));
  ASSERT_EQ(lines.size(), cases.size());
  EXPECT_EQ(
      lines[0],
      "{\"reason\":\"malformed_json\",\"key\":\"ok-key\",\"payload\":\"{\\\"caf\xC3\xA9\\\":1}\"}");
  // Expected base64 from Python's base64.b64encode.
  EXPECT_EQ(lines[1],
            "{\"reason\":\"malformed_json\",\"key\":\"k\",\"payload\":\"{\\\"a\\\":"
            "\\\"\xEF\xBF\xBD\\\"}\","
            "\"payload_base64\":\"eyJhIjoi/yJ9\"}");
  EXPECT_NE(lines[2].find("\"payload_base64\":\"ww==\""), std::string::npos) << lines[2];
  EXPECT_NE(lines[3].find("\"payload_base64\":\"gIE=\""), std::string::npos) << lines[3];
  EXPECT_NE(lines[4].find("\"key_base64\":\"/mtleQ==\""), std::string::npos) << lines[4];
  EXPECT_EQ(lines[4].find("payload_base64"), std::string::npos) << lines[4];
}

// The alerts file is written before the dead letters: when only the dead letters fail, the
// page stays in the store (its alerts are written again next time: at least once).
TEST_F(FileOutboxRelayTest, ADeadLetterWriteFailureKeepsThePage) {
  if (::access("/dev/full", W_OK) != 0) GTEST_SKIP() << "no writable /dev/full";
  CommitAlerts(0, 2);
  {
    alert::OutboxMessage m;
    m.kind = alert::OutboxKind::kDeadLetter;
    m.key = "k";
    m.value = "{not json";
    m.headers = {{"iocstream.dlq.reason", "malformed_json"}};
    state::StateBatch batch = store_->NewBatch();
    batch.AppendOutbox(alert::EncodeOutboxMessage(m));
    ASSERT_TRUE(store_->Commit(std::move(batch)));
  }
  auto relay = FileOutboxRelay::Open(*store_, dir_.Sub("alerts.ndjson"), "/dev/full", probe_);
  ASSERT_TRUE(relay.has_value()) << relay.error().message;
  const Status s = (*relay)->Drain();
  ASSERT_FALSE(s);
  EXPECT_NE(s.error().message.find("/dev/full"), std::string::npos) << s.error().message;
  EXPECT_EQ(Lines(dir_.Sub("alerts.ndjson")).size(), 2u);
  EXPECT_EQ(probe_.alerts_published.load(), 0u);
  EXPECT_EQ(probe_.dead_letters_published.load(), 0u);
  auto left = store_->ReadOutbox(10);
  ASSERT_TRUE(left.has_value());
  EXPECT_EQ(left->size(), 3u);
}

// An outbox written by an earlier build holds alerts as their messages (format 1), one
// written now as their fields (format 2): after an upgrade the relay reads both, and an alert
// gives the same line either way.
TEST_F(FileOutboxRelayTest, AlertsStoredInEitherFormatGiveTheSameLine) {
  AlertIntent a = alert::samples::TypicalAlert();
  a.kind = AlertKind::kCompletedLate;
  a.commune_code = "Phường Tân An";
  a.completed_at = a.detected_at;
  state::StateBatch batch = store_->NewBatch();
  batch.AppendOutbox(alert::EncodeOutboxMessage(alert::AlertMessage(a)));  // format 1
  batch.AppendOutbox(alert::EncodeAlertOutbox(a));                         // format 2
  ASSERT_TRUE(store_->Commit(std::move(batch)));
  auto relay = FileOutboxRelay::Open(*store_, dir_.Sub("alerts.ndjson"),
                                     dir_.Sub("dead-letters.ndjson"), probe_);
  ASSERT_TRUE(relay.has_value()) << relay.error().message;
  ASSERT_TRUE((*relay)->Drain());
  const std::vector<std::string> lines = Lines(dir_.Sub("alerts.ndjson"));
  ASSERT_EQ(lines.size(), 2u);
  EXPECT_EQ(lines[0], alert::AlertToJson(a));
  EXPECT_EQ(lines[1], lines[0]);
  EXPECT_EQ(probe_.alerts_published.load(), 2u);
}

TEST_F(FileOutboxRelayTest, DestroyedWhileItsThreadRunsJoinsIt) {
  CommitAlerts(0, 10);
  {
    auto relay = FileOutboxRelay::Open(*store_, dir_.Sub("alerts.ndjson"),
                                       dir_.Sub("dead-letters.ndjson"), probe_);
    ASSERT_TRUE(relay.has_value()) << relay.error().message;
    ASSERT_TRUE((*relay)->Start());
    (*relay)->Notify();
  }
  // The thread moves what was committed before it stops: every line once, the outbox empty.
  auto left = store_->ReadOutbox(100);
  ASSERT_TRUE(left.has_value());
  EXPECT_TRUE(left->empty());
  EXPECT_EQ(Lines(dir_.Sub("alerts.ndjson")).size(), 10u);
}

// A page written to the file whose delete the store lost (a kill between the file's sync and
// the delete; with the WAL disabled, any delete since the last flush): its entries are in the
// outbox again. The file is cut back to the length stored with the last recorded delete, and
// the entries are written once, not twice (before session 39 the page was repeated).
TEST_F(FileOutboxRelayTest, APageWhoseDeleteWasLostIsWrittenOnceNotTwice) {
  CommitAlerts(0, 3);
  DrainIntoFiles();
  // What the relay wrote for alerts 3 and 4 before the stop, and what the store still holds.
  {
    std::ofstream f(dir_.Sub("alerts.ndjson"), std::ios::binary | std::ios::app);
    f << R"({"alert":3})" << '\n' << R"({"alert":4})" << '\n';
  }
  CommitAlerts(3, 5);
  DrainIntoFiles();
  EXPECT_EQ(Lines(dir_.Sub("alerts.ndjson")),
            (std::vector<std::string>{R"({"alert":0})", R"({"alert":1})", R"({"alert":2})",
                                      R"({"alert":3})", R"({"alert":4})"}));
  auto position = store_->GetRelayPosition();
  ASSERT_TRUE(position.has_value());
  ASSERT_TRUE(position->has_value());
  EXPECT_EQ((*position)->size(), 16u);
}

// The first relay on a store records the files' lengths before it appends: a stop before its
// first delete is cut back to them too. A position that is not the file relay's is refused.
TEST_F(FileOutboxRelayTest, TheFirstRelayRecordsTheLengthsAndAForeignPositionIsRefused) {
  {
    std::ofstream f(dir_.Sub("alerts.ndjson"), std::ios::binary);
    f << R"({"alert":-1})" << '\n';
  }
  {
    auto relay = FileOutboxRelay::Open(*store_, dir_.Sub("alerts.ndjson"),
                                       dir_.Sub("dead-letters.ndjson"), probe_);
    ASSERT_TRUE(relay.has_value()) << relay.error().message;
  }
  {
    std::ofstream f(dir_.Sub("alerts.ndjson"), std::ios::binary | std::ios::app);
    f << R"({"alert":0})" << '\n';  // written, its delete lost
  }
  CommitAlerts(0, 1);
  DrainIntoFiles();
  EXPECT_EQ(Lines(dir_.Sub("alerts.ndjson")),
            (std::vector<std::string>{R"({"alert":-1})", R"({"alert":0})"}));

  ASSERT_TRUE(store_->PutRelayPosition("12345"));
  auto refused = FileOutboxRelay::Open(*store_, dir_.Sub("alerts.ndjson"),
                                       dir_.Sub("dead-letters.ndjson"), probe_);
  ASSERT_FALSE(refused.has_value());
  EXPECT_EQ(refused.error().code, ErrorCode::kCorruption);
  EXPECT_NE(refused.error().message.find("relay position of 5 bytes"), std::string::npos)
      << refused.error().message;
}

// A file cut by hand below the recorded length: what was removed is not written again (the
// outbox no longer holds it), a partial last line is repaired, and the next pages follow.
TEST_F(FileOutboxRelayTest, AFileCutShorterThanRecordedIsAppendedTo) {
  CommitAlerts(0, 3);
  DrainIntoFiles();
  std::filesystem::resize_file(dir_.Sub("alerts.ndjson"), std::string(R"({"alert":0})").size() + 4);
  CommitAlerts(3, 4);
  DrainIntoFiles();
  EXPECT_EQ(Lines(dir_.Sub("alerts.ndjson")),
            (std::vector<std::string>{R"({"alert":0})", R"({"alert":3})"}));
}

// A file deleted after a replay (to free space, or by a consumer that took its lines) is
// started again, empty, as one cut to nothing would be: every later replay failed with "cannot
// read the size" until the user created it (a QA trial).
TEST_F(FileOutboxRelayTest, ADeletedFileIsStartedAgain) {
  CommitAlerts(0, 2);
  DrainIntoFiles();
  std::filesystem::remove(dir_.Sub("alerts.ndjson"));
  std::filesystem::remove(dir_.Sub("dead-letters.ndjson"));
  CommitAlerts(2, 3);
  DrainIntoFiles();
  EXPECT_EQ(Lines(dir_.Sub("alerts.ndjson")), (std::vector<std::string>{R"({"alert":2})"}));
  EXPECT_TRUE(std::filesystem::exists(dir_.Sub("dead-letters.ndjson")));
}

}  // namespace
}  // namespace iocstream::app
