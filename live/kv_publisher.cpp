#include "live/kv_publisher.h"

#include <fmt/format.h>
#include <msgpack.hpp>
#include <zmq.hpp>

#include <set>

#include "core/error.h"
#include "models/kv_cache.h"

namespace servesim::live {

struct KvPublisher::Impl {
  zmq::context_t context{1};
  zmq::socket_t pub{context, zmq::socket_type::pub};
  std::optional<zmq::socket_t> replay;
};

namespace {
std::string be64(std::uint64_t v) {
  std::string s(8, '\0');
  for (int i = 7; i >= 0; --i, v >>= 8) s[static_cast<size_t>(i)] = static_cast<char>(v & 0xFF);
  return s;
}

void bind_or_fail(zmq::socket_t& s, const std::string& endpoint, const char* option) {
  try {
    s.bind(endpoint);
  } catch (const zmq::error_t& e) {
    throw ConfigError(fmt::format("{} {}: cannot bind ({}). Fix: another port, or a tcp://HOST:PORT this machine has",
                                  option, endpoint, e.what()));
  }
}
}  // namespace

KvPublisher::KvPublisher(KvPublisherOptions options, std::vector<std::string> worker_names,
                         std::vector<std::int32_t> block_sizes)
    : impl_(std::make_unique<Impl>()),
      options_(std::move(options)),
      names_(std::move(worker_names)),
      block_sizes_(std::move(block_sizes)) {
  impl_->pub.set(zmq::sockopt::sndhwm, 1'000'000);  // a slow subscriber should not lose events
  impl_->pub.set(zmq::sockopt::linger, 2000);        // flush what is queued at shutdown
  bind_or_fail(impl_->pub, options_.endpoint, "--kv-events");
  if (!options_.replay_endpoint.empty()) {
    impl_->replay.emplace(impl_->context, zmq::socket_type::router);
    impl_->replay->set(zmq::sockopt::linger, 0);
    bind_or_fail(*impl_->replay, options_.replay_endpoint, "--kv-events-replay");
  }
}

KvPublisher::~KvPublisher() = default;

void KvPublisher::publish(std::int32_t worker, std::vector<KvEvent>&& events) {
  pending_.emplace_back(worker, std::move(events));
}

void KvPublisher::remember_tokens(const std::vector<std::uint32_t>& tokens, const std::vector<std::uint64_t>& hash_ids,
                                  std::uint32_t hash_block_tokens, std::int32_t lora) {
  for (std::int32_t bs : std::set<std::int32_t>(block_sizes_.begin(), block_sizes_.end())) {
    const auto keys =
        prompt_block_keys(hash_ids, hash_block_tokens, static_cast<std::uint32_t>(tokens.size()), bs, lora);
    for (size_t j = 0; j < keys.size(); ++j) {
      auto [it, fresh] = tokens_.try_emplace(keys[j]);
      if (fresh)
        it->second.ids.assign(tokens.begin() + static_cast<std::ptrdiff_t>(j * static_cast<size_t>(bs)),
                              tokens.begin() + static_cast<std::ptrdiff_t>((j + 1) * static_cast<size_t>(bs)));
    }
  }
}

std::string KvPublisher::encode(double ts, std::int32_t worker, std::span<const KvEvent> events) {
  // consecutive events of one kind and medium (GPU stores that chain on each other; a run of
  // blocks written to host memory, which name no parent) go in one event, as vLLM sends them
  struct Group {
    KvEvent::Kind kind;
    KvEvent::Medium medium;
    std::int16_t lora;
    std::vector<std::uint64_t> hashes;
    std::uint64_t parent = 0;
    std::vector<std::uint32_t> token_ids;
  };
  std::vector<Group> groups;
  for (const KvEvent& e : events) {
    const bool cpu = e.medium == KvEvent::Medium::kCpu;
    const bool extend = !groups.empty() && groups.back().kind == e.kind && groups.back().medium == e.medium &&
                        e.kind != KvEvent::Kind::kCleared &&
                        (e.kind == KvEvent::Kind::kRemoved || cpu ||
                         (e.parent == groups.back().hashes.back() && e.lora == groups.back().lora));
    if (!extend) groups.push_back(Group{e.kind, e.medium, e.lora, {}, e.parent, {}});
    Group& g = groups.back();
    if (e.kind == KvEvent::Kind::kCleared) continue;
    g.hashes.push_back(e.key);
    auto it = tokens_.find(e.key);
    if (e.kind == KvEvent::Kind::kStored) {
      if (it != tokens_.end()) {
        g.token_ids.insert(g.token_ids.end(), it->second.ids.begin(), it->second.ids.end());
        ++it->second.holders;
      }
    } else if (it != tokens_.end() && --it->second.holders <= 0) {
      tokens_.erase(it);
    }
  }
  msgpack::sbuffer buf;
  msgpack::packer<msgpack::sbuffer> pk(buf);
  // [ts, events] or, from one attention-DP rank the router routes to, [ts, events, data_parallel_rank]
  const std::int16_t rank = events.empty() ? -1 : events.front().dp_rank;
  pk.pack_array(rank >= 0 ? 3 : 2);
  pk.pack_double(ts);
  pk.pack_array(static_cast<std::uint32_t>(groups.size()));
  const std::int32_t block_size = block_sizes_[static_cast<size_t>(worker)];
  for (const Group& g : groups) {
    const bool map = options_.map_format;
    auto key = [&](const char* k) {
      if (map) pk.pack(std::string_view(k));
    };
    auto begin = [&](std::uint32_t fields, const char* tag) {  // the tag is the first element, or "type"
      map ? pk.pack_map(fields) : pk.pack_array(fields);
      key("type");
      pk.pack(std::string_view(tag));
    };
    if (g.kind == KvEvent::Kind::kStored) {
      begin(8, "BlockStored");
      key("block_hashes");
      pk.pack(g.hashes);
      key("parent_block_hash");
      if (g.parent) pk.pack(g.parent);
      else pk.pack_nil();
      key("token_ids");
      pk.pack(g.token_ids);
      key("block_size");
      pk.pack(block_size);
      // vLLM numbers adapters from 1 (lora_int_id) and names them as requests do
      const bool lora = g.lora >= 0 && static_cast<size_t>(g.lora) < lora_names_.size();
      key("lora_id");
      if (lora) pk.pack(static_cast<std::int64_t>(g.lora) + 1);
      else pk.pack_nil();
      key("medium");
      pk.pack(std::string_view(g.medium == KvEvent::Medium::kCpu ? "CPU" : "GPU"));
      key("lora_name");
      if (lora) pk.pack(std::string_view(lora_names_[static_cast<size_t>(g.lora)]));
      else pk.pack_nil();
    } else if (g.kind == KvEvent::Kind::kRemoved) {
      begin(3, "BlockRemoved");
      key("block_hashes");
      pk.pack(g.hashes);
      key("medium");
      pk.pack(std::string_view(g.medium == KvEvent::Medium::kCpu ? "CPU" : "GPU"));
    } else {
      begin(1, "AllBlocksCleared");
    }
  }
  if (rank >= 0) pk.pack(static_cast<std::int64_t>(rank));
  return std::string(buf.data(), buf.size());
}

void KvPublisher::flush(double wall_epoch_s) {
  for (auto& [worker, events] : pending_)
    // a batch per attention-DP rank where the events name ranks (each rank publishes its own)
    for (size_t from = 0, to = 0; from < events.size(); from = to) {
      for (to = from + 1; to < events.size() && events[to].dp_rank == events[from].dp_rank;) ++to;
      std::string payload = encode(wall_epoch_s, worker, std::span<const KvEvent>(events).subspan(from, to - from));
      const std::string& topic = names_[static_cast<size_t>(worker)];
      const std::uint64_t seq = seq_++;
      impl_->pub.send(zmq::buffer(topic), zmq::send_flags::sndmore);
      impl_->pub.send(zmq::buffer(be64(seq)), zmq::send_flags::sndmore);
      impl_->pub.send(zmq::buffer(payload), zmq::send_flags::none);
      if (impl_->replay) {
        replay_.emplace_back(seq, std::move(payload));
        if (replay_.size() > options_.replay_buffer) replay_.pop_front();
      }
    }
  pending_.clear();
}

void KvPublisher::serve_replay() {
  if (!impl_->replay) return;
  zmq::socket_t& s = *impl_->replay;
  for (;;) {
    std::vector<zmq::message_t> frames;
    zmq::message_t m;
    if (!s.recv(m, zmq::recv_flags::dontwait)) return;
    frames.push_back(std::move(m));
    while (s.get(zmq::sockopt::rcvmore)) {
      zmq::message_t more;
      (void)s.recv(more, zmq::recv_flags::none);
      frames.push_back(std::move(more));
    }
    // [identity, empty, start_seq] (REQ/DEALER style)
    if (frames.size() < 2 || frames.back().size() != 8) continue;
    std::uint64_t start = 0;
    for (unsigned char c : frames.back().to_string_view()) start = (start << 8) | c;
    const std::string identity = frames.front().to_string();
    auto send = [&](std::uint64_t seq, std::string_view payload) {
      s.send(zmq::buffer(identity), zmq::send_flags::sndmore);
      s.send(zmq::buffer(std::string_view()), zmq::send_flags::sndmore);
      s.send(zmq::buffer(be64(seq)), zmq::send_flags::sndmore);
      s.send(zmq::buffer(payload), zmq::send_flags::none);
    };
    for (const auto& [seq, payload] : replay_)
      if (seq >= start) send(seq, payload);
    send(~std::uint64_t{0}, {});  // -1 as 8-byte big-endian signed: the end marker
  }
}

}  // namespace servesim::live
