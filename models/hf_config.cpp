#include "models/hf_config.h"

#include <fmt/format.h>
#include <fmt/ranges.h>

#include <algorithm>
#include <array>
#include <initializer_list>
#include <map>
#include <optional>
#include <regex>
#include <tuple>
#include <simdjson.h>

#include "core/error.h"

namespace servesim {

namespace {

// Python's json module writes the floats JSON lacks as bare Infinity, -Infinity and NaN (Mamba
// configs' `time_step_limit: [0.0, Infinity]`), and transformers reads them back; here they
// become null (no shape servesim reads is a float). Text inside strings is left alone.
std::string python_constants_as_null(std::string_view json) {
  std::string out(json);
  bool in_string = false;
  for (size_t i = 0; i < out.size(); ++i) {
    const char ch = out[i];
    if (in_string) {
      if (ch == '\\') ++i;  // the escaped character, a quote included
      else if (ch == '"') in_string = false;
      continue;
    }
    if (ch == '"') {
      in_string = true;
      continue;
    }
    for (std::string_view word : {"-Infinity", "Infinity", "NaN"}) {
      if (out.compare(i, word.size(), word) != 0) continue;
      out.replace(i, word.size(), "null");
      i += 3;  // past the null
      break;
    }
  }
  return out;
}

std::string first_architecture(simdjson::dom::object o) {
  simdjson::dom::array a;
  std::string_view first;
  if (o["architectures"].get(a) || a.size() == 0 || a.at(0).get(first)) return {};
  return std::string(first);
}

class Config {
 public:
  Config(std::string_view json, const std::string& path) : path_(path), text_(python_constants_as_null(json)) {
    if (parser_.parse(text_).get(root_))
      throw InputError(fmt::format("{}: not valid JSON (a Hugging Face config.json is expected)", path));
    // multimodal checkpoints keep the language model's shapes under text_config
    outer_ = root_;
    simdjson::dom::object text;
    if (!root_["text_config"].get(text)) root_ = text;
  }
  bool has(const char* key) const {
    simdjson::dom::element e;
    return !root_[key].get(e) && !e.is_null();
  }
  std::int64_t integer(const char* key) const {
    std::int64_t v = 0;
    if (root_[key].get(v)) throw InputError(fmt::format("{}: no integer '{}' (a shape servesim needs)", path_, key));
    return v;
  }
  std::int64_t integer(const char* key, std::int64_t fallback) const { return has(key) ? integer(key) : fallback; }
  std::string text(const char* key) const {
    std::string_view v;
    return root_[key].get(v) ? std::string() : std::string(v);
  }
  bool array(const char* key, simdjson::dom::array& out) const { return !root_[key].get(out); }
  std::optional<simdjson::dom::object> object(const char* key) const {
    simdjson::dom::object o;
    if (root_[key].get(o)) return std::nullopt;
    return o;
  }
  // (text_config's, else the whole file's: NVIDIA's exports of multimodal checkpoints give it there)
  std::optional<simdjson::dom::object> object_here_or_beside(const char* key) const {
    if (auto o = object(key)) return o;
    simdjson::dom::object o;
    if (outer_[key].get(o)) return std::nullopt;
    return o;
  }
  // (a multimodal checkpoint may give it beside text_config instead)
  bool boolean(const char* key, bool fallback) const {
    bool v = fallback;
    if (!root_[key].get(v)) return v;
    return outer_[key].get(v) ? fallback : v;
  }
  std::string architecture() const { return first_architecture(outer_); }
  // the language model's own, where text_config names one (Kimi K2.5: DeepseekV3ForCausalLM)
  std::string text_architecture() const { return first_architecture(root_); }

 private:
  std::string path_;
  simdjson::padded_string text_;
  simdjson::dom::parser parser_;
  simdjson::dom::object root_;   // the language model's shapes (text_config where there is one)
  simdjson::dom::object outer_;  // the whole file
};

int as_int(std::int64_t v, const std::string& path, const char* key) {
  if (v < 0 || v > 1'000'000'000) throw InputError(fmt::format("{}: '{}' = {} is out of range", path, key, v));
  return static_cast<int>(v);
}

// A per-layer list of kinds (layer_types, indexer_types): how many of the `layers` layers are of
// each kind, or nullopt where the config has no such list. A value that is not one of `kinds`, or
// a list of another length, is an InputError naming the key.
std::optional<std::map<std::string_view, int>> count_layer_kinds(const Config& c, const std::string& path,
                                                                 const char* key,
                                                                 std::initializer_list<std::string_view> kinds,
                                                                 int layers) {
  simdjson::dom::array list;
  if (!c.array(key, list)) return std::nullopt;
  std::map<std::string_view, int> counts;
  for (simdjson::dom::element e : list) {
    std::string_view kind;
    if (e.get(kind)) throw InputError(fmt::format("{}: {} holds a value that is not a string", path, key));
    if (std::find(kinds.begin(), kinds.end(), kind) == kinds.end())
      throw InputError(fmt::format("{}: {} names '{}'; servesim models {} layers", path, key, kind, fmt::join(kinds, ", ")));
    ++counts[kind];
  }
  if (list.size() != static_cast<size_t>(layers))
    throw InputError(fmt::format("{}: {} lists {} layers, num_hidden_layers is {}", path, key, list.size(), layers));
  return counts;
}

// A hybrid's recurrent-state dtype key (mamba_ssm_dtype, mamba_ssm_cache_dtype): bytes per value,
// fp32 where it says float32, else the model's 16-bit dtype (also where it says nothing).
int state_dtype_bytes(const Config& c, const std::string& path, const char* key) {
  const std::string state = c.text(key);
  if (!state.empty() && state != "float32" && state != "bfloat16" && state != "float16")
    throw InputError(fmt::format("{}: {} '{}' is not float32, bfloat16 or float16", path, key, state));
  return state == "float32" ? 4 : 2;
}

// A Nemotron-H config's layer kinds as hybrid_override_pattern letters: that string, or (newer
// configs, Nemotron-3 Ultra) the layers_block_type list of names.
std::string nemotron_h_pattern(const Config& c, const std::string& path) {
  if (c.has("hybrid_override_pattern")) return c.text("hybrid_override_pattern");
  simdjson::dom::array kinds;
  if (!c.array("layers_block_type", kinds))
    throw InputError(fmt::format("{}: neither hybrid_override_pattern nor layers_block_type says what each layer is",
                                 path));
  static const std::map<std::string_view, char> letters{{"mamba", 'M'}, {"attention", '*'}, {"moe", 'E'}, {"mlp", '-'}};
  std::string pattern;
  for (simdjson::dom::element e : kinds) {
    std::string_view kind;
    auto letter = e.get(kind) ? letters.end() : letters.find(kind);
    if (letter == letters.end())
      throw InputError(fmt::format("{}: layers_block_type holds '{}'; servesim models mamba, attention, moe and mlp "
                                   "layers",
                                   path, kind.empty() ? "(not a name)" : std::string(kind)));
    pattern += letter->second;
  }
  return pattern;
}

// Nemotron-H: `hybrid_override_pattern` names each layer: M a Mamba2 mixer, * attention, E an MoE
// FFN, - a dense FFN. servesim counts the mixers as its layers, each followed by an FFN but
// `ffn_free_layers` of them. A Mamba2 mixer's state has Gated DeltaNet's shape: its groups of B
// and C as key heads of the state size, its heads as value heads of mamba_head_dim.
// Also a latent MoE's width (moe_latent_size: Nemotron-3 Super and Ultra).
void read_nemotron_h(const Config& c, const std::string& path, ModelSpec& m) {
  auto get = [&](const char* key) { return as_int(c.integer(key), path, key); };
  const std::string pattern = nemotron_h_pattern(c, path);
  if (pattern.size() != static_cast<size_t>(m.layers))
    throw InputError(fmt::format("{}: hybrid_override_pattern names {} layers, num_hidden_layers is {}", path,
                                 pattern.size(), m.layers));
  int mamba = 0, attention = 0, moe = 0, mlp = 0;
  for (const char kind : pattern) {
    if (kind == 'M') ++mamba;
    else if (kind == '*') ++attention;
    else if (kind == 'E') ++moe;
    else if (kind == '-') ++mlp;
    else
      throw InputError(fmt::format("{}: hybrid_override_pattern holds '{}'; servesim models M (Mamba2), * "
                                   "(attention), E (MoE) and - (MLP) layers",
                                   path, kind));
  }
  if (mamba < 1 || attention < 1 || moe + mlp < 1 || moe + mlp > mamba + attention)
    throw InputError(fmt::format("{}: hybrid_override_pattern has {} Mamba2, {} attention and {} FFN layers; "
                                 "servesim models patterns with some of each and no more FFN layers than mixers",
                                 path, mamba, attention, moe + mlp));
  m.layers = mamba + attention;
  m.linear_layers = mamba;
  m.ffn_free_layers = m.layers - (moe + mlp);
  m.linear_mixer = "mamba2";
  m.linear_key_heads = get("n_groups");
  m.linear_key_head_dim = get("ssm_state_size");
  m.linear_value_heads = get("mamba_num_heads");
  m.linear_value_head_dim = get("mamba_head_dim");
  m.linear_conv_kernel = get("conv_kernel");
  m.linear_state_dtype_bytes = state_dtype_bytes(c, path, "mamba_ssm_cache_dtype");
  const std::string activation = c.text("mlp_hidden_act");
  if (activation != "relu2")
    throw InputError(fmt::format("{}: mlp_hidden_act '{}': servesim models Nemotron-H's relu2 (squared ReLU: up and "
                                 "down projections, no gate)",
                                 path, activation));
  m.gated_ffn = false;
  if (moe > 0) m.dense_layers = mlp;  // (the MoE reading below keeps it)
  if ((moe > 0) != c.has("n_routed_experts"))
    throw InputError(fmt::format("{}: hybrid_override_pattern has {} MoE (E) layers, and n_routed_experts is {}given; "
                                 "they come together",
                                 path, moe, c.has("n_routed_experts") ? "" : "not "));
  if (c.has("moe_latent_size")) {
    m.moe_latent_size = get("moe_latent_size");
    if (m.moe_latent_size < 1 || moe == 0)
      throw InputError(fmt::format("{}: moe_latent_size {} needs MoE (E) layers and a positive width", path,
                                   m.moe_latent_size));
  }
}

// The names of a JSON array of module names (a missing array: none); an element that is not a
// string becomes "" (reported as not a name).
std::vector<std::string> module_names(simdjson::simdjson_result<simdjson::dom::element> list) {
  std::vector<std::string> names;
  simdjson::dom::array array;
  if (list.get(array)) return names;
  for (simdjson::dom::element e : array) {
    std::string_view name;
    names.emplace_back(e.get(name) ? std::string_view() : name);
  }
  return names;
}

// quantized_layers of a MIXED_PRECISION checkpoint: (module, quant_algo) in the file's order (a
// missing object: none; an entry without a quant_algo string: "").
std::vector<std::pair<std::string, std::string>> quantized_layer_algos(
    simdjson::simdjson_result<simdjson::dom::element> layers) {
  std::vector<std::pair<std::string, std::string>> out;
  simdjson::dom::object object;
  if (layers.get(object)) return out;
  for (auto [module, scheme] : object) {
    std::string_view algo;
    out.emplace_back(std::string(module), scheme["quant_algo"].get(algo) ? std::string() : std::string(algo));
  }
  return out;
}

}  // namespace

std::string hf_id_of_config_file(const std::string& file_name) {
  const std::string suffix = "_config.json";
  if (file_name.size() <= suffix.size() || !file_name.ends_with(suffix) || file_name.ends_with("_hf_quant_config.json"))
    return {};
  const std::string stem = file_name.substr(0, file_name.size() - suffix.size());
  const size_t sep = stem.find("--");
  if (sep == std::string::npos || sep == 0 || sep + 2 >= stem.size()) return {};
  return stem.substr(0, sep) + "/" + stem.substr(sep + 2);
}

ModelSpec model_from_hf_config(const std::string& path, const std::string& hf_id) {
  auto loaded = simdjson::padded_string::load(path);
  if (loaded.error()) throw InputError(fmt::format("{}: cannot read the file", path));
  ModelSpec m = model_from_hf_config_text(std::string_view(loaded.value().data(), loaded.value().size()), path, hf_id);
  const std::string suffix = "config.json";
  if (path.ends_with(suffix)) {
    const std::string quant = path.substr(0, path.size() - suffix.size()) + "hf_quant_config.json";
    if (auto text = simdjson::padded_string::load(quant); !text.error())
      apply_modelopt_quantization(std::string_view(text.value().data(), text.value().size()), quant, m);
  }
  return m;
}

void apply_modelopt_quantization(std::string_view text, const std::string& path, ModelSpec& m) {
  simdjson::dom::parser parser;
  simdjson::dom::element root;
  const std::string json = python_constants_as_null(text);
  std::string_view algo;
  if (parser.parse(json).get(root) || root["quantization"]["quant_algo"].get(algo))
    throw InputError(fmt::format("{}: no quantization.quant_algo (a ModelOpt hf_quant_config.json is expected)", path));
  if (algo == "MIXED_PRECISION")
    apply_modelopt_mixed_precision(quantized_layer_algos(root["quantization"]["quantized_layers"]), path, m);
  else
    apply_modelopt_exclusions(algo, module_names(root["quantization"]["exclude_modules"]), path, m);
}

namespace {

// What an excluded module of a ModelOpt checkpoint is, and in which layer (-1: every layer, a
// leading `*` glob).
struct ExcludedModule {
  enum class Kind { kLmHeadOrEmbedding, kNotTheLanguageModel, kRouterGate, kAttention, kSharedExperts, kWholeLayer, kOther };
  Kind kind = Kind::kOther;
  int layer = -1;
  // kAttention: which of MLA's projections it is (kMla* bits; kMlaO the output projection), 0 for
  // a glob over the block
  unsigned mla_input = 0;
};
constexpr unsigned kMlaQA = 1, kMlaQB = 2, kMlaKvA = 4, kMlaKvB = 8, kMlaQ = 16, kMlaIndexer = 32, kMlaO = 64;

ExcludedModule classify_excluded(std::string_view name, int layers) {
  using Kind = ExcludedModule::Kind;
  std::string_view s = name;
  while (!s.empty() && s.back() == '*') s.remove_suffix(1);
  auto has = [&](std::string_view word) { return s.find(word) != std::string_view::npos; };
  if (has("lm_head") || has("embed_tokens") || s.ends_with("embeddings")) return {Kind::kLmHeadOrEmbedding};
  if (has("visual") || has("vision") || has("mm_projector") || has("multi_modal_projector") || has("patch_merge") ||
      s.starts_with("mtp") || has(".mtp"))
    return {Kind::kNotTheLanguageModel};
  const bool every_layer = name.starts_with("*");
  int layer = -1;
  std::string_view rest;
  if (const size_t at = s.find("layers."); at != std::string_view::npos) {
    size_t end = at + 7;
    while (end < s.size() && s[end] >= '0' && s[end] <= '9') ++end;
    if (end > at + 7) {
      if (end - at - 7 > 6) return {Kind::kOther};
      layer = std::stoi(std::string(s.substr(at + 7, end - at - 7)));
      rest = s.substr(end);
      if (rest.starts_with(".")) rest.remove_prefix(1);
    }
  }
  if (layer >= layers) return {Kind::kNotTheLanguageModel};  // an MTP layer numbered after the model's
  if (layer < 0 && !every_layer) return {Kind::kOther};
  if (layer >= 0 && rest.empty()) return {Kind::kWholeLayer, layer};
  if (has("self_attn") || has("linear_attn") || has(".attn.") || has("attention")) {
    const unsigned mla = has("q_a_proj")    ? kMlaQA
                         : has("q_b_proj")  ? kMlaQB
                         : has("kv_a_proj") ? kMlaKvA
                         : has("kv_b_proj") ? kMlaKvB
                         : has(".q_proj")   ? kMlaQ
                         : has("indexer")   ? kMlaIndexer
                         : has("o_proj")    ? kMlaO
                                            : 0;
    return {Kind::kAttention, layer, mla};
  }
  if (has("shared_expert")) return {Kind::kSharedExperts, layer};
  if (s.ends_with(".gate") || has("router")) return {Kind::kRouterGate, layer};
  return {Kind::kOther, layer};
}

}  // namespace

void apply_modelopt_exclusions(std::string_view algo, const std::vector<std::string>& excluded, const std::string& path,
                               ModelSpec& m) {
  using Kind = ExcludedModule::Kind;
  std::string precision;
  if (algo == "FP8") precision = "fp8";
  else if (algo == "NVFP4") precision = "nvfp4";
  else
    throw InputError(fmt::format("{}: quant_algo '{}' is not modelled (FP8 and NVFP4 are). Fix: write a models.yaml "
                                 "entry for it",
                                 path, algo));
  const auto layers = static_cast<size_t>(std::max(m.layers, 0));
  std::vector<char> attention(layers), shared(layers), whole(layers);
  std::vector<unsigned> mla_inputs(layers);  // per layer, the MLA projections excluded (kMla* bits)
  std::string first_kept;  // the first module that is part of the forward pass, for the messages
  auto unmodelled = [&](const std::string& module, std::string_view why) {
    return InputError(fmt::format("{}: exclude_modules keeps '{}' unquantised; {}. Fix: write a models.yaml entry for it",
                                  path, module, why));
  };
  const bool moe_of_ffn_layers = m.experts > 0 && m.ffn_free_layers == 0;
  for (const std::string& module : excluded) {
    const ExcludedModule e = classify_excluded(module, m.layers);
    if (e.kind == Kind::kLmHeadOrEmbedding || e.kind == Kind::kNotTheLanguageModel || e.kind == Kind::kRouterGate) continue;
    if (e.kind == Kind::kOther || !moe_of_ffn_layers)
      throw unmodelled(module.empty() ? "(not a name)" : module,
                       fmt::format("servesim's {} format leaves out the LM head, embeddings and router gates only{}",
                                   precision, moe_of_ffn_layers ? "" : " on this model"));
    if (first_kept.empty()) first_kept = module;
    auto mark = [&](std::vector<char>& v) {
      if (e.layer < 0) std::fill(v.begin(), v.end(), 1);
      else v[static_cast<size_t>(e.layer)] = 1;
    };
    if (e.kind == Kind::kAttention && e.mla_input != 0 && m.kv_lora_rank > 0) {
      for (size_t l = 0; l < layers; ++l)
        if (e.layer < 0 || static_cast<size_t>(e.layer) == l) mla_inputs[l] |= e.mla_input;
    } else if (e.kind == Kind::kAttention) {
      mark(attention);
    } else if (e.kind == Kind::kSharedExperts) mark(shared);
    else if (e.layer >= m.dense_layers)
      throw unmodelled(module, fmt::format("layer {} is a MoE layer (the first {} are dense), whose experts servesim "
                                           "prices in one format",
                                           e.layer, m.dense_layers));
    else mark(whole);
  }
  // MLA's input projections all kept (q_a and q_b, or q_proj; kv_a and kv_b), the indexer's as
  // they come: a layer whose attention is otherwise quantised keeps them alone. With o_proj (and
  // a sparse model's indexer) too, the layer keeps its attention block whole, as a glob over it does.
  const unsigned mla_projections = (m.q_lora_rank > 0 ? kMlaQA | kMlaQB : kMlaQ) | kMlaKvA | kMlaKvB;
  const unsigned mla_block = mla_projections | kMlaO | (m.sparse_topk > 0 ? kMlaIndexer : 0);
  size_t attention_kept = 0, dense_kept = 0, shared_kept = 0, mla_inputs_kept = 0, partial_attention = 0;
  for (size_t l = 0; l < layers; ++l) {
    const unsigned bits = mla_inputs[l];
    const bool block = attention[l] || (bits & mla_block) == mla_block;
    const bool mla_alone = !block && !whole[l] && (bits & mla_projections) == mla_projections && !(bits & kMlaO);
    const bool partial = !block && !whole[l] && bits != 0 && !mla_alone;
    mla_inputs_kept += mla_alone;
    partial_attention += partial;
    attention_kept += block || whole[l] || partial;
    if (static_cast<int>(l) < m.dense_layers) dense_kept += whole[l] != 0;
    else shared_kept += shared[l] != 0;
  }
  const auto dense = static_cast<size_t>(m.dense_layers), moe = static_cast<size_t>(m.moe_layers());
  std::string expert_precision, mla_input_precision, attention_precision;
  if (mla_inputs_kept > 0) {
    // NVIDIA's NVFP4 DeepSeek-V3.1/V3.2: MLA's input projections bf16, o_proj and the FFNs NVFP4
    if (mla_inputs_kept != layers || attention_kept + dense_kept + shared_kept > 0 || precision != "nvfp4")
      throw unmodelled(first_kept,
                       fmt::format("it keeps MLA's input projections of {} of {} layers, and {} layers' attention, {} "
                                   "dense layers and {} MoE layers' shared experts besides, unquantised; servesim "
                                   "models NVFP4 checkpoints that keep every layer's MLA input projections and "
                                   "nothing else",
                                   mla_inputs_kept, layers, attention_kept, dense_kept, shared_kept));
    mla_input_precision = "bf16";
  } else if (attention_kept + dense_kept + shared_kept > 0) {
    const bool every_block = attention_kept == layers && partial_attention == 0;
    const bool experts_alone =
        every_block && dense_kept == dense && (m.shared_experts == 0 ? shared_kept == 0 : shared_kept == moe);
    // NVIDIA's NVFP4 GLM-5 and Kimi K2.5: every layer's attention block bf16, every FFN NVFP4
    const bool attention_alone = every_block && dense_kept == 0 && shared_kept == 0 && m.kv_lora_rank > 0;
    if ((!experts_alone && !attention_alone) || precision != "nvfp4")
      throw unmodelled(first_kept,
                       fmt::format("it keeps {} of {} layers' attention{}, {} of {} dense layers and {} of {} MoE "
                                   "layers' shared experts unquantised, and servesim models {} checkpoints as "
                                   "quantised whole or (NVFP4) as their routed experts alone or, on an MLA model, "
                                   "with every layer's attention block alone kept",
                                   attention_kept, layers,
                                   partial_attention > 0 ? fmt::format(" ({} of them in part)", partial_attention) : "",
                                   dense_kept, dense, m.shared_experts > 0 ? shared_kept : 0,
                                   m.shared_experts > 0 ? moe : 0, algo));
    if (experts_alone) {
      expert_precision = precision;
      precision = "bf16";
    } else {
      attention_precision = "bf16";
    }
  }
  if (m.precision == precision && m.expert_precision == expert_precision &&
      m.mla_input_precision == mla_input_precision && m.attention_precision == attention_precision)
    return;  // config.json said the same
  if (m.precision != "bf16" && m.precision != precision)
    throw InputError(fmt::format("{}: quant_algo {} disagrees with config.json's {} format", path, algo, m.precision));
  if (!m.expert_precision.empty())
    throw InputError(fmt::format("{}: quant_algo {} beside config.json's {} experts is not modelled", path, algo,
                                 m.expert_precision));
  m.precision = precision;
  m.dtype_bytes = precision == "bf16" ? 2 : 1;  // (NVFP4's 4.5 bits: ModelSpec::bytes_per_weight)
  m.expert_precision = expert_precision;
  m.mla_input_precision = mla_input_precision;
  m.attention_precision = attention_precision;
}

void apply_modelopt_mixed_precision(const std::vector<std::pair<std::string, std::string>>& quantized,
                                    const std::string& path, ModelSpec& m) {
  using Kind = ExcludedModule::Kind;
  enum Part { kAttention, kFfn, kExperts, kLmHead };
  static const char* const part_names[] = {"attention", "dense FFNs and shared experts", "routed experts", "LM head"};
  std::array<std::string, 4> formats;  // per part, once seen
  std::array<std::string, 4> first;    // a module of each part, for the messages
  const auto layers = static_cast<size_t>(std::max(m.layers, 0));
  std::array<std::vector<char>, 3> seen{std::vector<char>(layers), std::vector<char>(layers), std::vector<char>(layers)};
  auto unmodelled = [&](const std::string& module, std::string_view why) {
    return InputError(fmt::format("{}: quantized_layers quantises '{}'; {}. Fix: write a models.yaml entry for it", path,
                                  module, why));
  };
  for (const auto& [module, algo] : quantized) {
    const std::string format = algo == "FP8" ? "fp8" : algo == "NVFP4" ? "nvfp4" : algo == "W4A16_NVFP4" ? "nvfp4_w4a16" : "";
    if (format.empty())
      throw unmodelled(module, fmt::format("its quant_algo '{}' is not modelled (FP8, NVFP4 and W4A16_NVFP4 are)", algo));
    const ExcludedModule e = classify_excluded(module, m.layers);
    const std::string_view name = module;
    Part part;
    if (e.kind == Kind::kNotTheLanguageModel || e.kind == Kind::kRouterGate) continue;
    if (e.kind == Kind::kLmHeadOrEmbedding && name.find("lm_head") != std::string_view::npos) part = kLmHead;
    else if (e.kind == Kind::kAttention && e.layer >= 0) part = kAttention;
    else if (e.kind == Kind::kSharedExperts && e.layer >= 0) part = kFfn;
    else if (e.kind == Kind::kOther && e.layer >= 0 && name.find(".experts") != std::string_view::npos) part = kExperts;
    else if (e.kind == Kind::kOther && e.layer >= 0 && name.find("mlp.") != std::string_view::npos &&
             (m.experts == 0 || e.layer < m.dense_layers))
      part = kFfn;
    else
      throw unmodelled(module, "servesim places a mixed-precision checkpoint's attention, FFNs, experts and LM head "
                               "only");
    if (!formats[part].empty() && formats[part] != format)
      throw unmodelled(module, fmt::format("it stores the {} in two formats ({} and {})", part_names[part], formats[part],
                                           format));
    formats[part] = format;
    if (first[part].empty()) first[part] = module;
    if (part != kLmHead) seen[part][static_cast<size_t>(e.layer)] = 1;
  }
  // every layer's part in its format: a layer left out would be bf16 beside it
  auto expect = [&](Part part, size_t from, size_t to) {
    for (size_t l = from; l < to; ++l)
      if (!seen[part][l])
        throw InputError(fmt::format("{}: quantized_layers leaves layer {}'s {} unquantised while '{}' is {}; servesim "
                                     "prices each part in one format. Fix: write a models.yaml entry for it",
                                     path, l, part_names[part], first[part].empty() ? "(none)" : first[part],
                                     formats[part].empty() ? "bf16" : formats[part]));
  };
  expect(kAttention, 0, layers);
  if (m.experts == 0) {
    expect(kFfn, 0, static_cast<size_t>(std::max(m.ffn_layers(), 0)));  // (ffn-free layers come last)
  } else {
    expect(kFfn, 0, static_cast<size_t>(m.dense_layers));
    if (m.shared_experts > 0) expect(kFfn, static_cast<size_t>(m.dense_layers), layers);
    expect(kExperts, static_cast<size_t>(m.dense_layers), layers);
  }
  if (formats[kAttention] != "fp8" && formats[kAttention] != "nvfp4")
    throw InputError(fmt::format("{}: quantized_layers stores attention as {}; servesim models mixed-precision "
                                 "checkpoints whose attention is FP8 or NVFP4. Fix: write a models.yaml entry for it",
                                 path, formats[kAttention].empty() ? "bf16" : formats[kAttention]));
  const std::string precision = formats[kAttention];
  auto apart = [&](Part part) { return formats[part] == precision ? std::string() : formats[part]; };
  const std::string ffn = m.experts == 0 || m.dense_layers > 0 || m.shared_experts > 0 ? apart(kFfn) : "";
  const std::string experts = m.experts > 0 ? apart(kExperts) : "";
  // an LM head left out stays bf16 (what nvfp4 assumes anyway)
  const std::string lm_head_format = formats[kLmHead].empty() ? "bf16" : formats[kLmHead];
  const std::string lm_head = lm_head_format == (precision == "nvfp4" ? "bf16" : precision) ? "" : lm_head_format;
  if (std::tie(m.precision, m.ffn_precision, m.expert_precision, m.lm_head_precision) ==
      std::tie(precision, ffn, experts, lm_head))
    return;  // config.json said the same
  if (m.precision != "bf16" || !m.expert_precision.empty())
    throw InputError(fmt::format("{}: MIXED_PRECISION beside config.json's {} format is not modelled", path, m.precision));
  m.precision = precision;
  m.dtype_bytes = 1;  // (NVFP4's 4.5 bits: ModelSpec::bytes_per_weight)
  m.ffn_precision = ffn;
  m.expert_precision = experts;
  m.lm_head_precision = lm_head;
}

void apply_compressed_tensors(const CompressedTensorsScheme& scheme, const std::vector<std::string>& ignore,
                              const std::string& path, ModelSpec& m) {
  if (scheme.bits != 4 || scheme.type != "int" || scheme.strategy != "group" || scheme.group_size != 32 ||
      !scheme.symmetric || scheme.activations)
    throw InputError(fmt::format(
        "{}: quantization_config (compressed-tensors) stores weights as {}-bit {} values by {}{}{}{}; servesim models "
        "4-bit symmetric integers in groups of 32 with unquantised activations (W4A16), on the routed experts. Fix: "
        "write a models.yaml entry for it",
        path, scheme.bits, scheme.type, scheme.strategy,
        scheme.strategy == "group" ? fmt::format(" of {}", scheme.group_size) : "", scheme.symmetric ? "" : ", asymmetric",
        scheme.activations ? ", activations quantised" : ""));
  if (m.experts == 0)
    throw InputError(fmt::format("{}: quantization_config (compressed-tensors): W4A16 int4 on a model without experts "
                                 "is not modelled (servesim prices int4 routed experts). Fix: write a models.yaml "
                                 "entry for it",
                                 path));
  // which of the language model's modules the list leaves out, tried on a dense layer, the first
  // MoE layer and the last (a list names kinds of modules, as these exports write it), under the
  // plain and the multimodal wrapper's names
  std::vector<std::regex> patterns;
  std::vector<std::string> names;
  for (const std::string& entry : ignore) {
    if (!entry.starts_with("re:")) {
      names.push_back(entry);
      continue;
    }
    try {
      patterns.emplace_back(entry.substr(3), std::regex::ECMAScript | std::regex::optimize);
    } catch (const std::regex_error&) {
      throw InputError(fmt::format("{}: quantization_config.ignore has '{}', not a regular expression", path, entry));
    }
  }
  auto left_out = [&](const std::string& module) {
    for (const std::string& prefix : {std::string(), std::string("language_model.")}) {
      const std::string name = prefix + module;
      if (std::find(names.begin(), names.end(), name) != names.end()) return true;
      for (const std::regex& re : patterns)
        if (std::regex_match(name, re)) return true;
    }
    return false;
  };
  std::vector<int> layers{m.layers - 1};
  if (m.dense_layers > 0) layers.push_back(0);
  if (m.dense_layers < m.layers) layers.push_back(m.dense_layers);
  const std::vector<std::string> attention = m.kv_lora_rank > 0
                                                 ? std::vector<std::string>{"q_a_proj", "q_b_proj", "q_proj",
                                                                            "kv_a_proj_with_mqa", "kv_b_proj", "o_proj"}
                                                 : std::vector<std::string>{"q_proj", "k_proj", "v_proj", "o_proj"};
  // kind -> (left out, kept) counts
  std::map<std::string, std::pair<int, int>> kinds;
  auto tally = [&](const std::string& kind, const std::string& module) {
    auto& [out, in] = kinds[kind];
    (left_out(module) ? out : in) += 1;
  };
  tally("the LM head", "lm_head");
  for (int l : layers) {
    const std::string layer = fmt::format("model.layers.{}.", l);
    for (const std::string& p : attention) tally("attention", layer + "self_attn." + p);
    for (const char* p : {"gate_proj", "up_proj", "down_proj"}) {
      if (l < m.dense_layers) {
        tally("the dense FFNs", layer + "mlp." + p);
        continue;
      }
      tally("the routed experts", layer + "mlp.experts.0." + p);
      if (m.shared_experts > 0) tally("the shared experts", layer + "mlp.shared_experts." + p);
    }
  }
  for (const auto& [kind, counts] : kinds) {
    const bool experts = kind == "the routed experts";
    const bool as_modelled = experts ? counts.first == 0 : counts.second == 0;
    if (!as_modelled)
      throw InputError(fmt::format("{}: quantization_config (compressed-tensors) quantises {} {}; servesim models int4 "
                                   "checkpoints whose routed experts alone are int4. Fix: write a models.yaml entry "
                                   "for it",
                                   path, counts.first > 0 && counts.second > 0 ? "part of" : experts ? "none of" : "all of",
                                   kind));
  }
  m.precision = "bf16";
  m.dtype_bytes = 2;
  m.expert_precision = "int4";
}

ModelSpec model_from_hf_config_text(std::string_view text, const std::string& path, const std::string& hf_id) {
  const Config c(text, path);
  std::string arch = c.architecture();
  static const char* families[] = {"LlamaForCausalLM",   "Qwen2ForCausalLM",     "Qwen3ForCausalLM",
                                   "Qwen2MoeForCausalLM", "Qwen3MoeForCausalLM", "MixtralForCausalLM",
                                   "MiniMaxM2ForCausalLM", "DeepseekV2ForCausalLM", "DeepseekV3ForCausalLM",
                                   "DeepseekV32ForCausalLM", "GlmMoeDsaForCausalLM", "GptOssForCausalLM",
                                   "Qwen3NextForCausalLM", "Qwen3_5ForConditionalGeneration",
                                   "Qwen3_5MoeForConditionalGeneration", "NemotronHForCausalLM",
                                   // Qwen3-VL: Qwen3's and Qwen3-MoE's language models under text_config
                                   "Qwen3VLForConditionalGeneration", "Qwen3VLMoeForConditionalGeneration"};
  auto known = [&](const std::string& a) {
    return std::any_of(std::begin(families), std::end(families), [&](const char* f) { return a == f; });
  };
  // a multimodal wrapper whose language model is a family servesim reads (its vision tower aside)
  if (!known(arch) && known(c.text_architecture())) arch = c.text_architecture();
  if (!known(arch))
    throw InputError(fmt::format("{}: architecture '{}' is not one whose shapes servesim reads (Llama, Qwen2/3, "
                                 "Mixtral, MiniMax-M2, DeepSeek-V2/V3/V3.2, GLM-5, gpt-oss, Qwen3-Next, Qwen3.5, Qwen3-VL, "
                                 "Nemotron-H). Fix: "
                                 "write a models.yaml entry for it",
                                 path, arch.empty() ? "(none)" : arch));
  auto get = [&](const char* key) { return as_int(c.integer(key), path, key); };
  auto get_or = [&](const char* key, int fallback) { return as_int(c.integer(key, fallback), path, key); };
  ModelSpec m;
  m.hf_id = hf_id;
  // (a Nemotron-H config listing its layers in layers_block_type need not count them)
  m.layers = arch == "NemotronHForCausalLM" && !c.has("num_hidden_layers")
                 ? static_cast<int>(nemotron_h_pattern(c, path).size())
                 : get("num_hidden_layers");
  m.hidden_size = get("hidden_size");
  m.heads = get("num_attention_heads");
  m.kv_heads = get_or("num_key_value_heads", m.heads);
  // (Qwen3.5's MoE configs give none: every layer is MoE, and its experts' width stands in)
  m.intermediate_size = c.has("intermediate_size") ? get("intermediate_size") : get("moe_intermediate_size");
  m.vocab_size = get("vocab_size");
  m.kv_lora_rank = get_or("kv_lora_rank", 0);
  if (m.kv_lora_rank > 0) {
    m.qk_rope_head_dim = get("qk_rope_head_dim");
    m.q_lora_rank = get_or("q_lora_rank", 0);
    m.head_dim = get("qk_nope_head_dim");
    if (const int v = get("v_head_dim"); v != m.head_dim) m.v_head_dim = v;  // GLM-5's values are wider
    // DeepSeek sparse attention (V3.2, GLM-5): the indexer's top-k, heads and head dim
    if (c.has("index_topk")) {
      m.sparse_topk = get("index_topk");
      m.indexer_heads = get("index_n_heads");
      m.indexer_head_dim = get("index_head_dim");
      if (m.sparse_topk < 1 || m.indexer_heads < 1 || m.indexer_head_dim < 1)
        throw InputError(fmt::format("{}: index_topk, index_n_heads and index_head_dim must be positive", path));
      // GLM-5.2: most layers reuse an earlier layer's picks (indexer_types full | shared per layer)
      if (auto kinds = count_layer_kinds(c, path, "indexer_types", {"full", "shared"}, m.layers))
        m.shared_indexer_layers = (*kinds)["shared"];
    }
  } else {
    m.head_dim = get_or("head_dim", m.heads > 0 ? m.hidden_size / m.heads : 0);
  }
  if (m.heads == 0 || m.head_dim == 0 || m.layers == 0 || m.hidden_size == 0)
    throw InputError(fmt::format("{}: layers, hidden_size, heads and head_dim must be positive", path));
  const bool nemotron_h = arch == "NemotronHForCausalLM";
  if (nemotron_h) read_nemotron_h(c, path, m);
  // sliding-window and linear-attention layers: those layer_types names so (gpt-oss alternates
  // sliding ones with full ones, Qwen3.5 puts a full one after every three linear ones); a config
  // without layer_types (Qwen2's unused sliding_window, say) has neither
  if (auto kinds = count_layer_kinds(c, path, "layer_types",
                                     {"full_attention", "sliding_attention", "linear_attention"}, m.layers)) {
    m.sliding_layers = (*kinds)["sliding_attention"];
    m.linear_layers = (*kinds)["linear_attention"];
    if (m.sliding_layers > 0) m.sliding_window = get("sliding_window");
  } else if (c.has("full_attention_interval") && c.has("linear_num_value_heads")) {
    // a Qwen3-Next-style config without the list: every interval-th layer is full attention, as
    // transformers derives layer_types from it
    const int interval = get("full_attention_interval");
    if (interval < 1) throw InputError(fmt::format("{}: full_attention_interval must be at least 1", path));
    m.linear_layers = m.layers - m.layers / interval;
  }
  if (m.linear_layers > 0 && !nemotron_h) {  // Gated DeltaNet
    m.linear_key_heads = get("linear_num_key_heads");
    m.linear_value_heads = get("linear_num_value_heads");
    m.linear_key_head_dim = get("linear_key_head_dim");
    m.linear_value_head_dim = get("linear_value_head_dim");
    m.linear_conv_kernel = get("linear_conv_kernel_dim");
    m.linear_state_dtype_bytes = state_dtype_bytes(c, path, "mamba_ssm_dtype");  // (Qwen3.5 names float32)
  }
  m.attention_output_gate = c.boolean("attn_output_gate", false);
  for (const char* key : {"n_routed_experts", "num_experts", "num_local_experts"})
    if (c.has(key)) m.experts = get(key);
  if (m.experts > 0) {
    m.top_k = get("num_experts_per_tok");
    m.moe_intermediate_size = get_or("moe_intermediate_size", m.intermediate_size);
    if (m.moe_intermediate_size < 1)  // (shared experts' widths are counted in it below)
      throw InputError(fmt::format("{}: moe_intermediate_size must be positive", path));
    m.shared_experts = get_or("n_shared_experts", 0);
    // Qwen2-MoE and Qwen3.5 give their shared expert's width instead: so many routed experts' worth
    if (const int shared = get_or("shared_expert_intermediate_size", 0); shared > 0 && !c.has("n_shared_experts")) {
      if (shared % m.moe_intermediate_size != 0)
        throw InputError(fmt::format("{}: shared_expert_intermediate_size {} is not a multiple of "
                                     "moe_intermediate_size {}",
                                     path, shared, m.moe_intermediate_size));
      m.shared_experts = shared / m.moe_intermediate_size;
    }
    if (!nemotron_h) m.dense_layers = get_or("first_k_dense_replace", 0);
    // Nemotron-H gives its shared expert's width beside their count
    if (const int shared = get_or("moe_shared_expert_intermediate_size", 0); shared > 0) {
      if (shared % m.moe_intermediate_size != 0)
        throw InputError(fmt::format("{}: moe_shared_expert_intermediate_size {} is not a multiple of "
                                     "moe_intermediate_size {}",
                                     path, shared, m.moe_intermediate_size));
      m.shared_experts *= shared / m.moe_intermediate_size;
    }
  }
  // parameters, from the shapes
  const double h = m.hidden_size, L = m.layers, V = m.vocab_size, H = m.heads, d = m.head_dim, v = m.value_head_dim();
  double attention = 0;
  if (m.kv_lora_rank > 0) {
    const double q_head = d + m.qk_rope_head_dim;
    attention = (m.q_lora_rank > 0 ? h * m.q_lora_rank + m.q_lora_rank * H * q_head : h * H * q_head) +
                h * (m.kv_lora_rank + m.qk_rope_head_dim) + m.kv_lora_rank * H * (d + v) + H * v * h;
    if (m.sparse_topk > 0) {  // the indexer's wq_b, wk and weights_proj (a layer's share: some share picks)
      const double indexer =
          static_cast<double>(m.q_lora_rank > 0 ? m.q_lora_rank : h) * m.indexer_heads * m.indexer_head_dim +
          h * (m.indexer_head_dim + m.indexer_heads);
      attention += m.shared_indexer_layers > 0 ? indexer * m.indexer_layers() / m.layers : indexer;
    }
  } else {
    attention = h * H * d * (m.attention_output_gate ? 2 : 1) + 2 * h * m.kv_heads * d + H * d * h;
  }
  // a linear-attention layer: its input projection, the depthwise convolution and the output
  // projection
  const double linear_value_width = static_cast<double>(m.linear_value_heads) * m.linear_value_head_dim;
  const double linear_attention =
      h * m.linear_in_proj_width() + m.linear_conv_channels() * m.linear_conv_kernel + linear_value_width * h;
  const double dense_ffn = m.ffn_matrices() * h * m.intermediate_size;
  // routed experts at their own width (a latent MoE's, with its projections down and up); shared
  // ones at the hidden size
  const double expert_ffn = m.ffn_matrices() * m.expert_width() * m.moe_intermediate_size;
  const double shared_expert_ffn = m.ffn_matrices() * h * m.moe_intermediate_size;
  const double latent_projections = m.moe_latent_size > 0 ? 2.0 * h * m.moe_latent_size : 0.0;
  double total = V * h * (c.boolean("tie_word_embeddings", false) ? 1 : 2) + (L - m.linear_layers) * attention +
                 m.linear_layers * linear_attention;
  double active = total;
  if (m.experts > 0) {
    const double moe_layers = m.moe_layers();
    const double shared = m.shared_experts * shared_expert_ffn + latent_projections, router = h * m.experts;
    total += m.dense_layers * dense_ffn + moe_layers * (m.experts * expert_ffn + shared + router);
    active += m.dense_layers * dense_ffn + moe_layers * (m.top_k * expert_ffn + shared + router);
    m.active_params_b = active / 1e9;
  } else {
    total += m.ffn_layers() * dense_ffn;
  }
  m.params_b = total / 1e9;
  // the GEMM format: fp8 with block scales, per-tensor fp8, else the stored dtype (bf16)
  const auto q = c.object_here_or_beside("quantization_config");
  std::string_view method;
  if (q && !(*q)["quant_method"].get(method) && method == "fp8") {
    simdjson::dom::element block;
    m.precision = !(*q)["weight_block_size"].get(block) && !block.is_null() ? "fp8_block" : "fp8";
    m.dtype_bytes = 1;
  } else if (q && method == "mxfp4" && m.experts > 0) {
    // gpt-oss: the experts in MXFP4, attention, router, embeddings and LM head in bf16 (its
    // modules_to_not_convert)
    m.precision = "bf16";
    m.dtype_bytes = 2;
    m.expert_precision = "mxfp4";
  } else if (q && (method == "modelopt" || (method.empty() && (*q)["quant_algo"].error() == simdjson::SUCCESS))) {
    // NVIDIA's exports: the hf_quant_config.json's fields, the excluded modules as `ignore` (older
    // ModelOpt versions wrote no quant_method, only the producer and quant_algo)
    std::string_view algo;
    if ((*q)["quant_algo"].get(algo))
      throw InputError(fmt::format("{}: quantization_config (quant_method modelopt) has no quant_algo", path));
    m.precision = "bf16";
    m.dtype_bytes = 2;
    if (algo == "MIXED_PRECISION")
      apply_modelopt_mixed_precision(quantized_layer_algos((*q)["quantized_layers"]), path + ": quantization_config", m);
    else
      apply_modelopt_exclusions(algo, module_names((*q)["ignore"]), path + ": quantization_config", m);
  } else if (q && method == "compressed-tensors") {
    simdjson::dom::object groups;
    if ((*q)["config_groups"].get(groups) || groups.size() != 1)
      throw InputError(fmt::format("{}: quantization_config (compressed-tensors) needs config_groups with one scheme "
                                   "(servesim models one format for the quantised modules)",
                                   path));
    simdjson::dom::element group = (*groups.begin()).value, weights;
    if (group["weights"].get(weights) || weights.is_null())
      throw InputError(fmt::format("{}: quantization_config.config_groups: the scheme has no weights", path));
    CompressedTensorsScheme scheme;
    std::int64_t bits = 0, group_size = 0;
    std::string_view type, strategy;
    bool symmetric = true;
    auto read = [&](const char* key, auto& out) { return weights[key].get(out) == simdjson::SUCCESS; };
    if (!read("num_bits", bits) || !read("type", type) || !read("strategy", strategy))
      throw InputError(fmt::format("{}: quantization_config.config_groups: the scheme's weights need num_bits, type "
                                   "and strategy",
                                   path));
    if (!read("group_size", group_size)) group_size = 0;  // null: not grouped
    if (!read("symmetric", symmetric)) symmetric = true;
    scheme.bits = static_cast<int>(bits);
    scheme.type = std::string(type);
    scheme.strategy = std::string(strategy);
    scheme.group_size = static_cast<int>(group_size);
    scheme.symmetric = symmetric;
    simdjson::dom::element activations;
    scheme.activations = !group["input_activations"].get(activations) && !activations.is_null();
    apply_compressed_tensors(scheme, module_names((*q)["ignore"]), path, m);
  } else if (q) {
    throw InputError(fmt::format("{}: quantization_config.quant_method '{}' is not modelled (fp8, modelopt, mxfp4 "
                                 "experts and compressed-tensors int4 experts are). Fix: write a models.yaml entry "
                                 "for it",
                                 path, method));
  } else {
    m.precision = "bf16";
    m.dtype_bytes = 2;
  }
  if (const auto problem = model_problem(m))
    throw InputError(fmt::format("{}: {}. Fix: {} (or write a models.yaml entry for it)", path, problem->what,
                                 problem->fix));
  return m;
}

}  // namespace servesim
