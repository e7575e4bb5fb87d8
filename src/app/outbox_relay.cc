#include "app/outbox_relay.h"

#include <fcntl.h>
#include <pthread.h>
#include <simdjson.h>
#include <spdlog/spdlog.h>
#include <sys/stat.h>
#include <unistd.h>

#include <algorithm>
#include <array>
#include <boost/archive/iterators/base64_from_binary.hpp>
#include <boost/archive/iterators/transform_width.hpp>
#include <boost/endian/conversion.hpp>
#include <cerrno>
#include <charconv>
#include <filesystem>
#include <fstream>
#include <nlohmann/json.hpp>
#include <system_error>

#include "app/thread_cpu.h"
#include "iocstream/alert/outbox_message.h"
#include "iocstream/decode/dead_letter.h"

namespace iocstream::app {

namespace {

// A relay's page of outbox entries ends at this many bytes too: dead letters hold payloads of
// up to 64 KiB, and a page of 5,000 of them (plus its lines) took over 600 MiB.
constexpr size_t kMaxPageBytes = size_t{8} << 20;
// Dead letters larger than this are published on their own (DrainOnce). Most are a few hundred
// bytes (a bad event); a topic's max.message.bytes is rarely below this.
constexpr size_t kDeadLetterAloneBytes = 8 * 1024;

// Standard base64 (RFC 4648, with '=' padding) of `bytes`.
std::string Base64(std::string_view bytes) {
  using namespace boost::archive::iterators;
  using Encoder = base64_from_binary<transform_width<std::string_view::const_iterator, 6, 8>>;
  std::string out(Encoder(bytes.begin()), Encoder(bytes.end()));
  out.append((3 - bytes.size() % 3) % 3, '=');
  return out;
}

// Sets line[name] to `bytes` as a JSON string. JSON strings are UTF-8: bytes that are not
// (a payload dead-lettered as malformed for that reason) are written with U+FFFD in their
// place for reading, and exactly, in base64, as line[name + "_base64"], so that nothing of a
// rejected record is lost.
void SetBytes(nlohmann::ordered_json& line, const std::string& name, const std::string& bytes) {
  line[name] = bytes;
  if (!simdjson::validate_utf8(bytes.data(), bytes.size())) {
    line[name + "_base64"] = Base64(bytes);
  }
}

}  // namespace

KafkaOutboxRelay::KafkaOutboxRelay(state::StateStore& store, std::unique_ptr<alert::KafkaSink> sink,
                                   std::string alerts_topic, std::string dead_letter_topic,
                                   RelayProbe& probe)
    : store_(store),
      sink_(std::move(sink)),
      alerts_topic_(std::move(alerts_topic)),
      dead_letter_topic_(std::move(dead_letter_topic)),
      probe_(probe) {}

void RelayThread::Start(Pass pass) {
  thread_ = std::thread([this, pass = std::move(pass)] {
    pthread_setname_np(pthread_self(), "outbox-relay");
    Loop(pass);
    RecordThreadEnd("outbox-relay");  // it may end before a summary (replay)
  });
}

void RelayThread::Notify() {
  notifications_.fetch_add(1);
  {
    std::lock_guard lock(mu_);
    notified_ = true;
  }
  cv_.notify_one();
}

void RelayThread::Stop() {
  if (!thread_.joinable()) return;
  {
    std::lock_guard lock(mu_);
    stop_ = true;
  }
  cv_.notify_one();
  thread_.join();
}

void RelayThread::Loop(const Pass& pass) {
  while (true) {
    const std::optional<Millis> pause = pass();
    std::unique_lock lock(mu_);
    if (stop_ || !pause) return;
    if (pause->count() <= 0) continue;
    cv_.wait_for(lock, *pause, [this] { return stop_ || notified_; });
    notified_ = false;
    if (stop_) return;
  }
}

KafkaOutboxRelay::~KafkaOutboxRelay() { Stop(Millis(5000)); }

void KafkaOutboxRelay::Start() {
  thread_.Start([this] { return Pass(); });
}

void KafkaOutboxRelay::Notify() { thread_.Notify(); }

void KafkaOutboxRelay::Stop(Millis timeout) {
  thread_.Stop();
  const auto deadline = std::chrono::steady_clock::now() + timeout;
  while (std::chrono::steady_clock::now() < deadline) {
    auto n = DrainOnce(1000);
    if (n && *n > 0) continue;
    if (n) break;  // drained
    // A page that failed just after a deleted topic was created again (by this drain, or by
    // the thread just before the stop) may go through once the producer sees the topic: a
    // QA trial's stop gave up 1 ms after the failure, and the alerts delivered behind a
    // failed dead letter were sent again after the restart.
    if (!topic_created_at_ ||
        std::chrono::steady_clock::now() - *topic_created_at_ > std::chrono::seconds(30)) {
      break;
    }
    std::this_thread::sleep_for(std::chrono::milliseconds(250));
  }
}

Result<size_t> KafkaOutboxRelay::DrainOnce(size_t limit) {
  auto entries = store_.ReadOutbox(limit, kMaxPageBytes);
  if (!entries) return entries.error();
  if (entries->empty()) {
    probe_.pending.store(0);
    return size_t{0};
  }
  // The whole outbox, not the page: entries are numbered one by one from the first pending
  // (a helper saw 6 here while 5,043 alerts waited).
  const uint64_t next = store_.NextOutboxSequence();
  const uint64_t oldest = entries->front().sequence;
  // Less those delivered already (delivered_ahead_): the undelivered-alerts alert must not
  // fire for a dead letter held up with a page of delivered alerts behind it (a QA trial).
  const uint64_t outbox = std::max<uint64_t>(next > oldest ? next - oldest : 0, entries->size());
  probe_.pending.store(
      static_cast<int64_t>(outbox - std::min<uint64_t>(outbox, delivered_ahead_.size())));
  if (!delivered_ahead_.empty()) {
    // Entries delivered before, behind one that failed then: deleted once they lead, and the
    // page ends before the next of them (not sent again).
    size_t leading = 0;
    while (leading < entries->size() && delivered_ahead_.contains((*entries)[leading].sequence)) {
      ++leading;
    }
    if (leading > 0) {
      const uint64_t last = (*entries)[leading - 1].sequence;
      if (Status s = store_.DeleteOutbox(last); !s) return s.error();
      delivered_ahead_.erase(delivered_ahead_.begin(), delivered_ahead_.upper_bound(last));
      dead_letter_caps_.erase(dead_letter_caps_.begin(), dead_letter_caps_.upper_bound(last));
      return leading;  // not pending (see above)
    }
    const auto cut = std::find_if(entries->begin(), entries->end(), [&](const auto& e) {
      return delivered_ahead_.contains(e.sequence);
    });
    entries->erase(cut, entries->end());
  }
  std::vector<alert::OutgoingMessage> messages;
  std::vector<alert::OutboxKind> kinds;
  messages.reserve(entries->size());
  for (const auto& e : *entries) {
    auto m = alert::DecodeOutboxMessage(e.payload);
    if (!m) {
      // A corrupt entry cannot be published; keep the stream moving and say so loudly.
      spdlog::error("outbox entry {}: {}; skipped", e.sequence, m.error().message);
      messages.push_back(alert::OutgoingMessage{dead_letter_topic_, "", e.payload, {}});
      kinds.push_back(alert::OutboxKind::kDeadLetter);
      continue;
    }
    kinds.push_back(m->kind);
    messages.push_back(alert::OutgoingMessage{
        m->kind == alert::OutboxKind::kAlert ? alerts_topic_ : dead_letter_topic_,
        std::move(m->key), std::move(m->value), std::move(m->headers)});
    if (auto cap = dead_letter_caps_.find(e.sequence); cap != dead_letter_caps_.end()) {
      alert::OutgoingMessage& refused = messages.back();
      DeadLetterRecord cut =
          CutDeadLetterRecord(refused.value, refused.key, refused.headers, cap->second);
      refused.key = std::move(cut.key);
      refused.value = std::move(cut.value);
    }
  }
  // A large dead letter goes out alone (it ends the page before it, or is a page of one):
  // refused for its size by a topic with a small max.message.bytes, the messages after it in
  // its page were delivered all the same and published again with the page, once per cut (a
  // helper saw each three times).
  // So does one refused before, whatever its size now (cut below 8 KiB, it may still be too
  // large for the topic).
  for (size_t i = 0; i < messages.size(); ++i) {
    if (kinds[i] == alert::OutboxKind::kDeadLetter &&
        (messages[i].value.size() + messages[i].key.size() > kDeadLetterAloneBytes ||
         dead_letter_caps_.contains((*entries)[i].sequence))) {
      const size_t keep = std::max<size_t>(i, 1);
      messages.resize(keep);
      kinds.resize(keep);
      break;
    }
  }
  std::vector<bool> delivered;
  auto acked = sink_->PublishAll(messages, Millis(30000), &delivered);
  // Those delivered behind the first that was not (see delivered_ahead_).
  const size_t leading_acked = acked ? *acked : 0;
  for (size_t i = leading_acked; i < delivered.size(); ++i) {
    if (!delivered[i]) continue;
    delivered_ahead_.insert((*entries)[i].sequence);
    probe_.pending.fetch_sub(1);
    (kinds[i] == alert::OutboxKind::kAlert ? probe_.alerts_published
                                           : probe_.dead_letters_published)
        .fetch_add(1);
  }
  // A page that failed (at its head, or after entries it delivered: a dead letter between
  // alerts, to a deleted topic) starts the next one; the entries behind it that it delivered
  // are not in that page (delivered_ahead_).
  if (!acked || *acked == 0) {
    CreateDeletedTopicsNow();
  } else if (*acked < messages.size()) {
    probe_.publish_failures.fetch_add(1);
    CreateDeletedTopicsNow();
  }
  if (!acked) {
    probe_.publish_failures.fetch_add(1);
    const uint64_t first = entries->front().sequence;
    if (acked.error().code == ErrorCode::kInvalidArgument &&
        kinds.front() == alert::OutboxKind::kDeadLetter) {
      // Refused for its size, it would hold every later alert and dead letter for good: sent
      // again cut to a quarter each time (the record stays whole at the source its headers
      // name), down to its headers alone.
      auto cap = dead_letter_caps_.try_emplace(first, kMaxDeadLetterValueBytes).first;
      const size_t sent = std::max(messages.front().value.size(), messages.front().key.size());
      if (sent > 0) {
        cap->second = std::min(cap->second, sent) / 4;
        spdlog::warn(
            "outbox relay: {}; sending dead letter {} again with its value and key cut to {} "
            "bytes (the whole record stays at the offset its headers name)",
            acked.error().message, first, cap->second);
        return size_t{0};
      }
    }
    return acked.error();
  }
  if (*acked == 0) return size_t{0};
  for (size_t i = 0; i < *acked; ++i) {
    (kinds[i] == alert::OutboxKind::kAlert ? probe_.alerts_published
                                           : probe_.dead_letters_published)
        .fetch_add(1);
  }
  if (Status s = store_.DeleteOutbox((*entries)[*acked - 1].sequence); !s) return s.error();
  dead_letter_caps_.erase(dead_letter_caps_.begin(),
                          dead_letter_caps_.upper_bound((*entries)[*acked - 1].sequence));
  probe_.pending.fetch_sub(static_cast<int64_t>(*acked));
  return *acked;
}

void KafkaOutboxRelay::CreateDeletedTopicsNow() {
  if (create_partitions_ <= 0) return;
  const auto now = std::chrono::steady_clock::now();
  if (now - topics_checked_at_ < std::chrono::seconds(30)) return;
  topics_checked_at_ = now;
  for (const std::string& topic : {alerts_topic_, dead_letter_topic_}) {
    auto described = sink_->DescribeTopic(topic, Millis(5000));
    if (described || described.error().code != ErrorCode::kNotFound) continue;
    const std::vector<alert::TopicSpec> spec = {{topic, create_partitions_, {}}};
    if (Status s = sink_->EnsureTopics(spec, Millis(15000)); !s) {
      spdlog::warn("outbox relay: topic {} does not exist and could not be created: {}", topic,
                   s.error().message);
    } else {
      topic_created_at_ = std::chrono::steady_clock::now();
      spdlog::warn(
          "outbox relay: topic {} does not exist (deleted while iocstream ran?): created it again "
          "with {} partitions",
          topic, create_partitions_);
    }
  }
}

std::optional<Millis> KafkaOutboxRelay::Pass() {
  // Entries committed before a Notify are in the store when it is called: a drain that
  // starts after it and finds nothing left has published them all.
  const uint64_t notified = thread_.notifications();
  auto n = DrainOnce(2000);
  if (n && *n == 0 && probe_.pending.load() == 0) drained_seq_.store(notified);  // empty
  if (!n) {
    const auto now = std::chrono::steady_clock::now();
    if (!failing_ || now - last_failure_warning_ >= std::chrono::minutes(1)) {
      spdlog::warn("outbox relay: {} (retrying every second{})", n.error().message,
                   failures_unlogged_ > 0 ? "; " + std::to_string(failures_unlogged_) +
                                                " more failed attempt(s) since the last warning"
                                          : std::string());
      last_failure_warning_ = now;
      failures_unlogged_ = 0;
    } else {
      ++failures_unlogged_;
    }
    failing_ = true;
    return Millis(1000);
  }
  if (failing_) spdlog::info("outbox relay: publishing again");
  failing_ = false;
  failures_unlogged_ = 0;
  return *n > 0 ? Millis(0) : Millis(200);
}

namespace {

// strerror, thread-safe.
std::string SystemMessage(int err) { return std::generic_category().message(err); }

// fdatasync, true on success; a file that cannot be synced (a pipe, a character device such as
// /dev/null: EINVAL) has nothing to make durable and counts as synced. errno on failure.
bool Sync(int fd) { return ::fdatasync(fd) == 0 || errno == EINVAL; }

// The longest partial last line cut off at Open: a page cut short is a part of one line (an
// alert is under 2 KiB; a dead letter holds its record, up to a few MiB).
constexpr uintmax_t kMaxTornBytes = uintmax_t{64} << 20;

// Cuts a partial last line off a file the relay appends to. The relay writes whole lines and
// deletes a page from the outbox only after the file has it, so a last line without its line
// feed is a write cut short (a full disk, a kill -9) whose entries are still in the outbox:
// they are written again. Left in place, the next line would be appended to it, and both
// would be lost in one unreadable line. A last line that is whole JSON only lost its line
// feed (an editor, a script: a QA trial's `truncate -s -1` then lost a delivered alert for
// good): it is ended with one instead, and kept; were it a write cut short just there, its
// entries are written again, and that line is twice in the file (alert ids tell them apart).
// Why a partial last line is there, for the warning that removes it.
enum class TornBy {
  kWriteCutShort,  // a write cut short: its entries are still in the outbox
  kHandCut,        // the file cut by hand: the line is gone from the outbox too
};

Status RepairTornLine(const std::string& path, TornBy torn_by = TornBy::kWriteCutShort) {
  std::error_code ec;
  if (!std::filesystem::is_regular_file(path, ec)) return {};  // new, or a device/pipe
  const uintmax_t size = std::filesystem::file_size(path, ec);
  if (ec) return IoError("cannot read the size of " + path + ": " + ec.message());
  if (size == 0) return {};
  std::ifstream in(path, std::ios::binary);
  if (!in) return IoError("cannot read " + path + ": " + SystemMessage(errno));
  // Back from the end, a block at a time, to the last line feed.
  uintmax_t end = size;
  std::string block;
  while (end > 0) {
    const uintmax_t length = std::min<uintmax_t>(end, 64 * 1024);
    block.resize(static_cast<size_t>(length));
    in.seekg(static_cast<std::streamoff>(end - length));
    if (!in.read(block.data(), static_cast<std::streamsize>(length))) {
      return IoError("cannot read " + path + ": " + SystemMessage(errno));
    }
    if (end == size && block.back() == '\n') return {};  // ends with a whole line
    if (const size_t lf = block.rfind('\n'); lf != std::string::npos) {
      end = end - length + lf + 1;
      break;
    }
    end -= length;
    if (size - end > kMaxTornBytes) break;
  }
  if (size - end > kMaxTornBytes) {
    return IoError(path + " ends with " + std::to_string(size - end) +
                   "+ bytes without a line feed: not a page cut short (this relay writes whole "
                   "lines); move the file away or end it with a line feed");
  }
  {
    std::string last(static_cast<size_t>(size - end), '\0');
    in.clear();
    in.seekg(static_cast<std::streamoff>(end));
    if (!in.read(last.data(), static_cast<std::streamsize>(last.size()))) {
      return IoError("cannot read " + path + ": " + SystemMessage(errno));
    }
    if (nlohmann::json::accept(last)) {
      std::ofstream out(path, std::ios::binary | std::ios::app);
      if (!(out << '\n') || !out.flush()) {
        return IoError("cannot end the last line of " + path + ": " + SystemMessage(errno));
      }
      spdlog::warn(
          "{}: its last line ({} bytes) had no line feed but is whole: ended with one and kept",
          path, size - end);
      return {};
    }
  }
  std::filesystem::resize_file(path, end, ec);
  if (ec) return IoError("cannot cut the partial last line of " + path + ": " + ec.message());
  if (torn_by == TornBy::kHandCut) {
    spdlog::warn(
        "{}: removed a partial last line ({} bytes) left by the cut; that line is not written "
        "again",
        path, size - end);
  } else {
    spdlog::warn(
        "{}: removed a partial last line ({} bytes), left by a write cut short; its entries are "
        "still in the outbox and are written again",
        path, size - end);
  }
  return {};
}

// Appends `data` to `fd` (O_APPEND), and with `sync` makes it durable. On failure the file is
// cut back to its size before (no partial line is left), and the error names the file, the
// reason and `outcome` (what becomes of the lines not written).
Status Append(int fd, const std::string& path, std::string_view data, bool sync,
              std::string_view outcome) {
  auto failed = [&](const char* what, int err, off_t size_before) -> Status {
    if (size_before >= 0 && ::ftruncate(fd, size_before) != 0) {
      spdlog::warn(
          "{}: could not cut back a failed write ({}); the next replay removes a "
          "partial last line",
          path, SystemMessage(errno));
    }
    return IoError(std::string(what) + " " + path + " failed: " + SystemMessage(err) + " (" +
                   std::string(outcome) + ")");
  };
  struct stat st {};
  if (::fstat(fd, &st) != 0) return failed("reading the size of", errno, -1);
  // A device or a pipe has nothing to cut back (-1: no cut).
  const off_t size_before = S_ISREG(st.st_mode) ? st.st_size : -1;
  while (!data.empty()) {
    const ssize_t n = ::write(fd, data.data(), data.size());
    if (n < 0) {
      if (errno == EINTR) continue;
      return failed("writing", errno, size_before);
    }
    data.remove_prefix(static_cast<size_t>(n));
  }
  if (sync && !Sync(fd)) return failed("syncing", errno, size_before);
  return {};
}

// Appends a page's lines durably (Drain).
Status AppendDurably(int fd, const std::string& path, std::string_view data) {
  return Append(fd, path, data, /*sync=*/true,
                "the entries stay in the outbox; the next replay writes them");
}

// The relay position FileOutboxRelay stores with each delete: the alerts file's length, then
// the dead-letters file's, big-endian 64-bit each.
struct FileLengths {
  uint64_t alerts = 0;
  uint64_t dead_letters = 0;
};

std::string EncodeFileLengths(const FileLengths& lengths) {
  std::array<unsigned char, 16> out{};
  boost::endian::store_big_u64(out.data(), lengths.alerts);
  boost::endian::store_big_u64(out.data() + 8, lengths.dead_letters);
  return {reinterpret_cast<const char*>(out.data()), out.size()};
}

std::optional<FileLengths> DecodeFileLengths(std::string_view bytes) {
  if (bytes.size() != 16) return std::nullopt;
  const auto* p = reinterpret_cast<const unsigned char*>(bytes.data());
  return FileLengths{boost::endian::load_big_u64(p), boost::endian::load_big_u64(p + 8)};
}

// The sink position: the alerts file's length as of the commit (or page) that stored it,
// big-endian 64-bit.
std::string EncodeSinkPosition(uint64_t alerts_length) {
  std::array<unsigned char, 8> out{};
  boost::endian::store_big_u64(out.data(), alerts_length);
  return {reinterpret_cast<const char*>(out.data()), out.size()};
}

std::optional<uint64_t> DecodeSinkPosition(std::string_view bytes) {
  if (bytes.size() != 8) return std::nullopt;
  return boost::endian::load_big_u64(reinterpret_cast<const unsigned char*>(bytes.data()));
}

// Brings a file to the length the store recorded with the last page it deleted. Longer: the
// rest is a page whose delete the store lost (a crash between the file's sync and the
// delete's write, or with the WAL disabled any delete since the last flush); its entries are
// in the outbox again, or are written again by the replay that goes on from the store's
// state, so the bytes are cut off. Shorter: the file was cut or replaced outside iocstream;
// what was removed is not written again (the outbox no longer has it), a partial last line
// is repaired as without a recorded length, and the caller must store the new length before
// appending (true): otherwise a stop before the next flush would bring the old, longer length
// back, and the lines appended since would be kept and written again (a QA trial: a consumer
// emptied the file between replays). A cut that does not end a line (the file was edited
// since) is repaired the same way.
Result<bool> RestoreLength(const std::string& path, uint64_t recorded) {
  std::error_code ec;
  const std::filesystem::file_status status = std::filesystem::status(path, ec);
  if (status.type() == std::filesystem::file_type::not_found) {
    // Deleted (to free space, or by a consumer that took the lines): created again, empty.
    if (recorded == 0) return false;
    spdlog::warn(
        "{}: missing, where the state store recorded {} bytes written: it was deleted outside "
        "iocstream; a new file is started, and the lines it held are not written again",
        path, recorded);
    return true;
  }
  if (ec) return IoError("cannot read " + path + ": " + ec.message());
  if (status.type() != std::filesystem::file_type::regular) return false;  // a device, a pipe
  const uintmax_t size = std::filesystem::file_size(path, ec);
  if (ec) return IoError("cannot read the size of " + path + ": " + ec.message());
  if (size > recorded) {
    std::filesystem::resize_file(path, recorded, ec);
    if (ec) return IoError("cannot cut " + path + " back to its delivered length: " + ec.message());
    spdlog::warn(
        "{}: cut {} bytes past the {} the state store recorded as written (with its last "
        "commit or delivered page before the stop): lines of a replay stopped before the store "
        "had them (raised or written again now, once), or bytes added outside iocstream (lost: "
        "this file is iocstream's to append to)",
        path, size - recorded, recorded);
    if (Status s = RepairTornLine(path); !s) return s.error();
    return std::filesystem::file_size(path, ec) != recorded;
  }
  if (size < recorded) {
    spdlog::warn(
        "{}: {} bytes, shorter than the {} the state store recorded as written: it was cut or "
        "replaced outside iocstream, and the lines removed are not written again",
        path, size, recorded);
    if (Status s = RepairTornLine(path, TornBy::kHandCut); !s) return s.error();
    return true;
  }
  return false;
}

Result<int> OpenForAppend(const std::string& path) {
  const int fd = ::open(path.c_str(), O_WRONLY | O_APPEND | O_CREAT | O_CLOEXEC, 0644);
  if (fd < 0) return IoError("cannot open " + path + " for writing: " + SystemMessage(errno));
  return fd;
}

}  // namespace

Result<std::unique_ptr<FileOutboxRelay>> FileOutboxRelay::Open(state::StateStore& store,
                                                               const std::string& alerts_path,
                                                               const std::string& dead_letters_path,
                                                               RelayProbe& probe) {
  auto stored = store.GetRelayPosition();
  if (!stored) return stored.error();
  auto stored_sink = store.GetSinkPosition();
  if (!stored_sink) return stored_sink.error();
  auto not_ours = [](const std::string& what, size_t size) {
    return Error{ErrorCode::kCorruption, "state store: a " + what + " of " + std::to_string(size) +
                                             " bytes, not the replay's file relay's"};
  };
  std::optional<FileLengths> recorded;
  if (stored->has_value()) {
    recorded = DecodeFileLengths(**stored);
    if (!recorded) return not_ours("relay position", (*stored)->size());
  }
  // The alerts file's length: the sink position when there is one (commits and the relay's
  // pages with alerts store it; the relay position's length of it may be ahead of the state,
  // read while a commit was appending), else the relay position's (a store of an earlier
  // build).
  std::optional<uint64_t> alerts_recorded;
  if (stored_sink->has_value()) {
    alerts_recorded = DecodeSinkPosition(**stored_sink);
    if (!alerts_recorded) return not_ours("sink position", (*stored_sink)->size());
  } else if (recorded) {
    alerts_recorded = recorded->alerts;
  }
  bool moved = false;
  if (alerts_recorded) {
    auto alerts_moved = RestoreLength(alerts_path, *alerts_recorded);
    if (!alerts_moved) return alerts_moved.error();
    moved = *alerts_moved;
  } else if (Status s = RepairTornLine(alerts_path); !s) {
    return s.error();
  }
  if (recorded) {
    auto dead_letters_moved = RestoreLength(dead_letters_path, recorded->dead_letters);
    if (!dead_letters_moved) return dead_letters_moved.error();
    moved = moved || *dead_letters_moved;
  } else if (Status s = RepairTornLine(dead_letters_path); !s) {
    return s.error();
  }
  auto alerts = OpenForAppend(alerts_path);
  if (!alerts) return alerts.error();
  auto dead = OpenForAppend(dead_letters_path);
  if (!dead) {
    ::close(*alerts);
    return dead.error();
  }
  std::unique_ptr<FileOutboxRelay> relay(
      new FileOutboxRelay(store, *alerts, alerts_path, *dead, dead_letters_path, probe));
  if (!recorded || !stored_sink->has_value() || moved) {
    // The lengths from here on (none stored yet, or the files were cut by hand); durable
    // before a line is appended, so that a stop before the next flush comes back to them.
    auto lengths = relay->Lengths();
    if (!lengths) return lengths.error();
    auto sink = relay->SinkPosition();
    if (!sink) return sink.error();
    if (Status s = store.PutRelayPosition(*lengths, *sink); !s) return s.error();
  }
  // From here on a flush makes the alerts file durable first (see the class comment).
  store.SetBeforeFlush([relay = relay.get()] {
    if (Sync(relay->alerts_fd_)) return;
    const int err = errno;
    std::lock_guard lock(relay->error_mu_);
    if (relay->error_) {
      relay->error_ = IoError("syncing " + relay->alerts_path_ +
                              " before a flush of the state "
                              "store failed: " +
                              SystemMessage(err) +
                              " (the replay stops; alerts past the file's durable end may be "
                              "lost if the machine stops before it is synced again)");
    }
  });
  return relay;
}

Result<std::string> FileOutboxRelay::Lengths() const {
  struct stat alerts {};
  struct stat dead_letters {};
  if (::fstat(alerts_fd_, &alerts) != 0) {
    return IoError("cannot read the size of " + alerts_path_ + ": " + SystemMessage(errno));
  }
  if (::fstat(dead_letters_fd_, &dead_letters) != 0) {
    return IoError("cannot read the size of " + dead_letters_path_ + ": " + SystemMessage(errno));
  }
  return EncodeFileLengths(
      {static_cast<uint64_t>(alerts.st_size), static_cast<uint64_t>(dead_letters.st_size)});
}

FileOutboxRelay::FileOutboxRelay(state::StateStore& store, int alerts_fd, std::string alerts_path,
                                 int dead_letters_fd, std::string dead_letters_path,
                                 RelayProbe& probe)
    : store_(store),
      alerts_fd_(alerts_fd),
      alerts_path_(std::move(alerts_path)),
      dead_letters_fd_(dead_letters_fd),
      dead_letters_path_(std::move(dead_letters_path)),
      probe_(probe) {}

FileOutboxRelay::~FileOutboxRelay() {
  thread_.Stop();
  store_.SetBeforeFlush({});
  // The store's last flush (at its close) has no hook now: the alerts it counts are synced here.
  if (!Sync(alerts_fd_)) {
    spdlog::error("syncing {} failed: {}", alerts_path_, SystemMessage(errno));
  }
  ::close(alerts_fd_);
  ::close(dead_letters_fd_);
}

Status FileOutboxRelay::Start() {
  if (Status s = Drain(); !s) return s;
  thread_.Start([this]() -> std::optional<Millis> {
    Status s = Drain();
    if (!s) {
      spdlog::error("outbox relay: {}", s.error().message);
      std::lock_guard lock(error_mu_);
      error_ = s;  // kept for the pipeline thread, which stops; nothing more is drained
      return std::nullopt;
    }
    return Millis(200);
  });
  return {};
}

void FileOutboxRelay::Notify() { thread_.Notify(); }

void FileOutboxRelay::LocateRows(std::string source,
                                 std::function<std::string(uint64_t offset)> locate) {
  located_source_ = std::move(source);
  locate_ = std::move(locate);
}

Status FileOutboxRelay::status() const {
  std::lock_guard lock(error_mu_);
  return error_;
}

Status FileOutboxRelay::Stop() {
  thread_.Stop();
  if (Status s = status(); !s) return s;
  if (Status s = Drain(); !s) return s;
  if (!Sync(alerts_fd_)) {
    return IoError("syncing " + alerts_path_ + " failed: " + SystemMessage(errno));
  }
  return {};
}

Status FileOutboxRelay::WriteAlerts(std::string_view lines, uint64_t alerts) {
  alerts_at_commit_.store(true);
  if (Status s = status(); !s) return s;
  if (Status s = Append(alerts_fd_, alerts_path_, lines, /*sync=*/false,
                        "the replay stops; the next one raises these alerts again");
      !s) {
    return s;
  }
  probe_.alerts_published.fetch_add(alerts);
  return {};
}

Result<std::string> FileOutboxRelay::Position() {
  // With the WAL, the commit is durable (to a process crash) once written: the file first.
  if (!store_.wal_disabled() && !Sync(alerts_fd_)) {
    return IoError("syncing " + alerts_path_ + " failed: " + SystemMessage(errno) +
                   " (the replay stops; the next one raises these alerts again)");
  }
  return SinkPosition();
}

Result<std::string> FileOutboxRelay::SinkPosition() const {
  struct stat st {};
  if (::fstat(alerts_fd_, &st) != 0) {
    return IoError("cannot read the size of " + alerts_path_ + ": " + SystemMessage(errno));
  }
  return EncodeSinkPosition(static_cast<uint64_t>(st.st_size));
}

Status FileOutboxRelay::Drain() {
  std::string alert_lines;
  std::string dead_letter_lines;
  while (true) {
    auto entries = store_.ReadOutbox(5000, kMaxPageBytes);
    if (!entries) return entries.error();
    if (entries->empty()) return {};
    // The page is decoded whole before a line is written: an entry that does not decode
    // leaves the page in the store and the files without any of it.
    alert_lines.clear();
    dead_letter_lines.clear();
    uint64_t alerts = 0;
    uint64_t dead_letters = 0;
    for (const auto& e : *entries) {
      auto entry_error = [&e](const Error& error) {
        return Error{error.code,
                     "outbox entry " + std::to_string(e.sequence) + ": " + error.message};
      };
      auto is_alert = alert::AppendAlertValue(e.payload, alert_lines);
      if (!is_alert) return entry_error(is_alert.error());
      if (*is_alert && alerts_at_commit_.load()) {
        return entry_error(Error{ErrorCode::kInternal,
                                 "an alert in the outbox while commits write alerts to " +
                                     alerts_path_ + " themselves (both would append to it)"});
      }
      if (*is_alert) {
        alert_lines.push_back('\n');
        ++alerts;
        continue;
      }
      auto m = alert::DecodeOutboxMessage(e.payload);  // a dead letter
      if (!m) return entry_error(m.error());
      nlohmann::ordered_json line;
      for (const auto& [name, value] : m->headers) {
        constexpr std::string_view kPrefix = "iocstream.dlq.";
        line[name.rfind(kPrefix, 0) == 0 ? name.substr(kPrefix.size()) : name] = value;
      }
      if (locate_ && line.value("topic", std::string()) == located_source_) {
        uint64_t offset = 0;
        const std::string text = line.value("offset", std::string());
        const auto [end, ec] = std::from_chars(text.data(), text.data() + text.size(), offset);
        if (ec == std::errc() && end == text.data() + text.size()) {
          if (std::string row = locate_(offset); !row.empty()) line["csv_row"] = std::move(row);
        }
      }
      SetBytes(line, "key", m->key);
      SetBytes(line, "payload", m->value);
      dead_letter_lines.append(line.dump(-1, ' ', false, nlohmann::json::error_handler_t::replace));
      dead_letter_lines.push_back('\n');
      ++dead_letters;
    }
    // Each file is written (and synced) before the next: a failure leaves the other untouched
    // (what was written is written again with the page, so duplicates stay few).
    if (!alert_lines.empty()) {
      if (Status s = AppendDurably(alerts_fd_, alerts_path_, alert_lines); !s) return s;
    }
    if (!dead_letter_lines.empty()) {
      if (Status s = AppendDurably(dead_letters_fd_, dead_letters_path_, dead_letter_lines); !s) {
        return s;
      }
    }
    probe_.alerts_published.fetch_add(alerts);
    probe_.dead_letters_published.fetch_add(dead_letters);
    auto lengths = Lengths();
    if (!lengths) return lengths.error();
    // A page with alerts moves the sink position too (no commit writes the file meanwhile).
    std::optional<std::string> sink;
    if (alerts > 0) {
      auto position = SinkPosition();  // the page is synced already
      if (!position) return position.error();
      sink = std::move(*position);
    }
    if (Status s = store_.DeleteOutbox(entries->back().sequence, *lengths, sink); !s) return s;
  }
}

}  // namespace iocstream::app
