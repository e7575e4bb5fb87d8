// Pipeline::SyncWithChangelog and the changelog markers of each commit (app/changelog.h).
// Kept apart from pipeline.cc. A restore goes through the Pipeline's batch (Update, Commit),
// as a recompute does, so that each restored dossier's timers and aggregate counts move with
// it; its commits are recorded in the store only, never written back to the changelog.
#include <spdlog/spdlog.h>

#include <string>
#include <utility>
#include <vector>

#include "app/pipeline.h"

namespace iocstream::app {
namespace {

// Dossiers restored (or seeded) per commit: bounds the memory of a restore whatever the
// partition holds (the cache bound and commit_max_bytes apply too).
constexpr size_t kSyncChunk = 20000;

}  // namespace

std::string_view ToString(ChangelogSync::Action action) {
  switch (action) {
    case ChangelogSync::Action::kNone:
      return "none";
    case ChangelogSync::Action::kCurrent:
      return "current";
    case ChangelogSync::Action::kRestored:
      return "restored";
    case ChangelogSync::Action::kSeeded:
      return "seeded";
  }
  return "?";
}

void Pipeline::AddChangelogMarkers(CommitJob& job) {
  boost::container::flat_set<PartitionId> partitions;
  job.dossiers.ForEach(
      [&](std::string_view, std::string_view, PartitionId p) { partitions.insert(p); });
  // The states the writer thread encodes (async_commit): not changed before it is submitted.
  for (const Entry* e : job.to_encode) partitions.insert(e->current->partition);
  for (const auto& [tp, position] : batch_offsets_) {
    if (tp.topic == options_.changelog_source_topic) partitions.insert(tp.partition);
  }
  for (const auto& [p, clock] : watermarks_) {
    if (clock.moved) partitions.insert(p);
  }
  for (PartitionId p : partitions) {
    const TopicPartition tp{options_.changelog_source_topic, p};
    ChangelogMarker marker;
    if (auto b = batch_offsets_.find(tp); b != batch_offsets_.end()) {
      marker.next_offset = b->second.next;
    } else if (auto n = next_offsets_.find(tp); n != next_offsets_.end()) {
      marker.next_offset = n->second;
    } else if (auto stored = ReadStoredOffset(tp); stored) {
      marker.next_offset = *stored;
    }
    marker.watermark = Watermark(p);
    marker.writer = options_.changelog->writer_id();
    marker.sequence = ++changelog_sequence_;
    job.markers.emplace_back(p, marker.Encode());
  }
  job.group = options_.changelog->CaptureGroup();
}

Result<ChangelogSync> Pipeline::SyncWithChangelog(const TopicPartition& tp, Instant wall_now) {
  auto sync = SyncPartition(tp, wall_now);
  if (sync) {
    probe_.changelog_syncs[static_cast<size_t>(sync->action)].fetch_add(1);
    probe_.changelog_records_synced.fetch_add(sync->records);
  }
  return sync;
}

Result<ChangelogSync> Pipeline::SyncPartition(const TopicPartition& tp, Instant wall_now) {
  ChangelogSync out;
  StateChangelog* log = options_.changelog;
  if (log == nullptr) return out;
  if (!fatal_) return fatal_.error();
  if (Status s = Flush(); !s) return s.error();
  const PartitionId p = tp.partition;
  auto last = log->Last(p);
  if (!last) return last.error();
  auto local = store_.GetChangelogMarker(p);
  if (!local) return local.error();
  auto stored = ReadStoredOffset(tp);
  if (!stored) return stored.error();
  out.next_offset = *stored;
  const bool last_is_marker = last->has_value() && (*last)->key == kChangelogMarkerKey;
  if (last_is_marker && local->has_value() && (*last)->value == **local) {
    out.action = ChangelogSync::Action::kCurrent;
    return out;
  }
  std::optional<ChangelogMarker> last_marker;
  if (last_is_marker) last_marker = ChangelogMarker::Decode((*last)->value);

  // The changelog is empty, or ends at an offset before the store's (a topic created again):
  // the store's state is the newer one, and the changelog gets all of it.
  // The changelog's last record is this store's: the store holds that commit and maybe a later
  // one whose changelog write did not finish.
  const bool own = last->has_value() && StateChangelog::WriterOf(**last) == log->writer_id();
  const bool behind = !last->has_value() || own ||
                      (last_marker && stored->has_value() &&
                       (!last_marker->next_offset || *last_marker->next_offset < **stored));
  if (behind) {
    if (!stored->has_value()) return out;  // nothing on either side
    if (own) {
      spdlog::info(
          "changelog {}[{}] ends with a write of this store's that it does not record as done "
          "(stopped between a commit and its changelog write): writing the store's state of "
          "the partition to it",
          log->topic(), p.value());
    } else if (last->has_value()) {
      spdlog::warn(
          "changelog {}[{}] ends at offset {}, before the store's {}: writing the store's state "
          "of the partition to it",
          log->topic(), p.value(),
          last_marker->next_offset ? last_marker->next_offset->value() : -1, (*stored)->value());
    }
    state::EncodedDossiers chunk;
    Status status;
    const GroupMetadata group = log->CaptureGroup();
    Status scan = store_.ForEachDossier([&](const DossierState& d) {
      if (d.partition != p) return true;
      chunk.Add(d);
      ++out.records;
      if (chunk.size() >= kSyncChunk) {
        status = log->Write(chunk, {}, group, /*check_stall=*/false);
        chunk.Clear();
      }
      return static_cast<bool>(status);
    });
    if (!scan) return scan.error();
    if (!status) return status.error();
    ChangelogMarker marker;
    marker.next_offset = *stored;
    if (auto w = Watermark(p)) {
      marker.watermark = *w;
    } else if (auto sw = store_.GetWatermark(p); sw) {
      marker.watermark = *sw;
    } else {
      return sw.error();
    }
    marker.writer = log->writer_id();
    marker.sequence = ++changelog_sequence_;
    const std::vector<std::pair<PartitionId, std::string>> markers = {{p, marker.Encode()}};
    if (Status s = log->Write(chunk, markers, group, /*check_stall=*/false); !s) {
      return s.error();
    }
    local_markers_ = markers;
    restoring_ = true;
    Status committed = Commit(CommitTrigger::kFlush);
    if (committed) committed = Flush();
    restoring_ = false;
    if (!committed) return committed.error();
    out.action = ChangelogSync::Action::kSeeded;
    return out;
  }

  // Restore: every dossier of the changelog becomes the store's, through the cache (Update
  // moves its timers and aggregate counts from the store's version to this one).
  if (Status s = OnAssigned(std::span<const TopicPartition>(&tp, 1), wall_now); !s) {
    return s.error();
  }
  restoring_ = true;
  std::string marker_bytes;
  std::string id;
  Status read = log->ReadAll(p, [&](std::string_view key, std::string_view value) -> Status {
    if (key == kChangelogMarkerKey) {
      marker_bytes.assign(value);
      return {};
    }
    if (key.empty() || key[0] != kChangelogDossierKeyTag) {
      return Error{ErrorCode::kCorruption,
                   fmt::format("changelog {}[{}]: a record with a key of another layout",
                               log->topic(), p.value())};
    }
    id.assign(key.substr(1));
    const auto stored_value = StateChangelog::DossierValue(value);
    if (!stored_value) {
      return Error{ErrorCode::kCorruption, fmt::format("changelog {}[{}]: dossier {}: a value of "
                                                       "{} bytes",
                                                       log->topic(), p.value(), id, value.size())};
    }
    auto state = state::DecodeDossierValue(id, *stored_value);
    if (!state) {
      return Error{ErrorCode::kCorruption,
                   fmt::format("changelog {}[{}]: dossier {}: {}", log->topic(), p.value(), id,
                               state.error().message)};
    }
    if (state->partition != p) {
      return Error{ErrorCode::kCorruption,
                   fmt::format("changelog {}[{}]: dossier {} belongs to partition {}", log->topic(),
                               p.value(), id, state->partition.value())};
    }
    Entry* entry = Lookup(id);
    if (entry == nullptr) return fatal_;
    Update(*entry, std::move(*state));
    ++out.records;
    if (dirty_.size() >= kSyncChunk || OverByteBound()) return Commit(CommitTrigger::kFlush);
    return {};
  });
  if (read && !marker_bytes.empty()) {
    const auto marker = ChangelogMarker::Decode(marker_bytes);
    if (!marker) {
      read = Error{
          ErrorCode::kCorruption,
          fmt::format("changelog {}[{}]: a marker of another layout", log->topic(), p.value())};
    } else {
      if (marker->next_offset) batch_offsets_[tp] = BatchPosition{*marker->next_offset, {}};
      if (marker->watermark) {
        PartitionClock& clock = watermarks_[p];
        clock.watermark = *marker->watermark;
        clock.moved = true;
      }
      local_markers_.emplace_back(p, marker_bytes);
      out.next_offset = marker->next_offset;
    }
  }
  if (read) read = Commit(CommitTrigger::kFlush);
  if (read) read = Flush();
  restoring_ = false;
  // The partition is not this instance's yet: its timer head is read from the store when its
  // timers are first fired.
  DropHead(p);
  if (!read) return read.error();
  out.action = ChangelogSync::Action::kRestored;
  return out;
}

}  // namespace iocstream::app
