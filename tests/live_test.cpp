// servesim live's pure parts: the OpenAI request parser and response formats, the stand-in
// tokenizer, the Prometheus text, and the engine's progress/abort hooks live mode relies on.
#include <gtest/gtest.h>
#include <simdjson.h>

#include "live/openai_api.h"
#include "live/prometheus.h"
#include "live/tokenizer.h"
#include "models/engine_scheduler.h"
#include "tests/engine_harness.h"

namespace servesim::live {
namespace {

const std::vector<std::string> kModels{"llama-3.1-8b", "llama-3.1-70b"};

ApiRequest ok(std::string_view body, ApiKind kind = ApiKind::kCompletion, ApiLimits limits = {}) {
  auto r = parse_request(body, kind, limits, kModels);
  if (auto* e = std::get_if<ApiError>(&r)) ADD_FAILURE() << body << " -> " << e->message;
  return std::get<ApiRequest>(r);
}

ApiError err(std::string_view body, ApiKind kind = ApiKind::kCompletion, ApiLimits limits = {}) {
  auto r = parse_request(body, kind, limits, kModels);
  EXPECT_TRUE(std::holds_alternative<ApiError>(r)) << body;
  return std::holds_alternative<ApiError>(r) ? std::get<ApiError>(r) : ApiError{};
}

TEST(LiveApi, CompletionFieldsAsBenchmarkClientsSendThem) {
  ApiRequest r = ok(R"({"model":"llama-3.1-70b","prompt":"abcdefgh","max_tokens":33,"min_tokens":2,
      "ignore_eos":true,"stream":true,"stream_options":{"include_usage":true},"temperature":0,"best_of":1})");
  EXPECT_EQ(r.model, "llama-3.1-70b");
  EXPECT_EQ(r.prompt.size(), 2u);  // 8 bytes / 4 per token
  EXPECT_EQ(r.max_tokens, 33u);
  EXPECT_EQ(r.min_tokens, 2u);
  EXPECT_TRUE(r.ignore_eos && r.stream && r.include_usage);
  // absent model: the first served; absent max_tokens: the server's default
  ApiLimits limits;
  limits.default_max_tokens = 17;
  r = ok(R"({"prompt":"x"})", ApiKind::kCompletion, limits);
  EXPECT_EQ(r.model, "llama-3.1-8b");
  EXPECT_EQ(r.max_tokens, 17u);
  // max_completion_tokens wins over max_tokens; token ids count exactly; a one-element batch
  EXPECT_EQ(ok(R"({"prompt":[1,2,3],"max_completion_tokens":5,"max_tokens":9})").max_tokens, 5u);
  EXPECT_EQ(ok(R"({"prompt":[[5,6,7,8]]})").prompt, (std::vector<std::uint32_t>{5, 6, 7, 8}));
  EXPECT_EQ(ok(R"({"prompt":["abcdabcd"]})").prompt.size(), 2u);
  // an exact count from the client: the stand-in tokens cut or repeated to it
  EXPECT_EQ(ok(R"({"prompt":"abcd","num_prompt_tokens":300})").prompt.size(), 300u);
  EXPECT_EQ(ok(R"({"prompt":"abcdabcdabcd","num_prompt_tokens":2})").prompt.size(), 2u);
}

TEST(LiveApi, ChatMessagesRenderIntoOnePromptWhoseTurnsArePrefixes) {
  ApiRequest one = ok(R"({"messages":[{"role":"user","content":"hello there"}]})", ApiKind::kChat);
  ApiRequest two = ok(R"({"messages":[{"role":"user","content":"hello there"},{"role":"assistant","content":"hi"},
      {"role":"user","content":[{"type":"text","text":"and "},{"type":"image_url","image_url":{}},{"type":"text","text":"more"}]}]})",
                      ApiKind::kChat);
  EXPECT_EQ(one.prompt, tokenize(render_chat(std::vector<ChatMessage>{{"user", "hello there"}})));
  // the next turn's prompt starts with the conversation so far (up to the assistant tag)
  const std::string so_far = "<|user|>\nhello there\n";
  const auto prefix = tokenize(so_far);
  ASSERT_GT(two.prompt.size(), prefix.size());
  EXPECT_TRUE(std::equal(prefix.begin(), prefix.begin() + static_cast<long>(so_far.size() / kBytesPerToken), two.prompt.begin()));
  EXPECT_EQ(two.prompt, tokenize(render_chat(std::vector<ChatMessage>{{"user", "hello there"}, {"assistant", "hi"},
                                                                      {"user", "and more"}})));
}

TEST(LiveApi, BadRequestsNameTheParameterAndStatus) {
  EXPECT_EQ(err("{nope").status, 400);
  EXPECT_EQ(err("[1,2]").status, 400);
  EXPECT_EQ(err(R"({"max_tokens":3})").param, "prompt");
  EXPECT_EQ(err(R"({"prompt":""})").param, "prompt");
  EXPECT_EQ(err(R"({"prompt":[]})").param, "prompt");
  EXPECT_EQ(err(R"({"prompt":["a","b"]})").param, "prompt");  // a batch
  EXPECT_EQ(err(R"({"prompt":[1,-2]})").param, "prompt");
  EXPECT_EQ(err(R"({"prompt":{"a":1}})").param, "prompt");
  ApiError e = err(R"({"model":"gpt-4","prompt":"x"})");
  EXPECT_EQ(e.status, 404);
  EXPECT_EQ(e.code, "model_not_found");
  EXPECT_EQ(err(R"({"model":7,"prompt":"x"})").param, "model");
  EXPECT_EQ(err(R"({"prompt":"x","max_tokens":0})").param, "max_tokens");
  EXPECT_EQ(err(R"({"prompt":"x","max_tokens":-1})").param, "max_tokens");
  EXPECT_EQ(err(R"({"prompt":"x","max_tokens":2.5})").param, "max_tokens");
  EXPECT_EQ(ok(R"({"prompt":"x","max_tokens":8.0})").max_tokens, 8u);
  EXPECT_EQ(err(R"({"prompt":"x","max_tokens":1e300})").param, "max_tokens");  // a fuzz finding: no UB cast
  EXPECT_EQ(err(R"({"prompt":[[]],"num_prompt_tokens":6.2e104})").param, "num_prompt_tokens");
  EXPECT_EQ(err(R"({"prompt":"x","max_tokens":"9"})").param, "max_tokens");
  EXPECT_EQ(err(R"({"prompt":"x","max_completion_tokens":99999999})").param, "max_completion_tokens");
  EXPECT_EQ(err(R"({"prompt":"x","max_tokens":4,"min_tokens":5})").param, "min_tokens");
  EXPECT_EQ(err(R"({"prompt":"x","n":3})").param, "n");
  EXPECT_EQ(err(R"({"prompt":"x","stream":1})").param, "stream");
  EXPECT_EQ(err(R"({"prompt":"x","stream_options":[]})").param, "stream_options");
  EXPECT_EQ(err(R"({"prompt":"x","stream_options":{"include_usage":"yes"}})").param, "stream_options.include_usage");
  EXPECT_EQ(err(R"({"prompt":"x","num_prompt_tokens":0})").param, "num_prompt_tokens");
  EXPECT_EQ(err(R"({"messages":"hi"})", ApiKind::kChat).param, "messages");
  EXPECT_EQ(err(R"({"messages":[{"role":"user","content":5}]})", ApiKind::kChat).param, "messages[0].content");
  EXPECT_EQ(err(R"({"messages":[{"role":"user"},7]})", ApiKind::kChat).param, "messages[1]");
  ApiLimits limits;
  limits.max_prompt_tokens = 10;
  EXPECT_EQ(err(R"({"prompt":"0123456789012345678901234567890123456789x"})", ApiKind::kCompletion, limits).code,
            "context_length_exceeded");
  limits = {};
  limits.max_request_tokens = 100;  // one worker's KV cache
  EXPECT_EQ(err(R"({"prompt":[1,2,3],"max_tokens":98})", ApiKind::kCompletion, limits).code, "context_length_exceeded");
  EXPECT_EQ(ok(R"({"prompt":[1,2,3],"max_tokens":97})", ApiKind::kCompletion, limits).max_tokens, 97u);
}

// Every body the server sends parses as JSON with OpenAI's fields.
TEST(LiveApi, ResponsesAndChunksAreOpenAiJson) {
  simdjson::dom::parser parser;
  const ResponseHead head{"chatcmpl-7", "llama-3.1-8b", 1700000000};
  const Usage usage{10, 3, 4};
  auto parse = [&](const std::string& s) {
    auto doc = parser.parse(s);
    EXPECT_FALSE(doc.error()) << s;
    return std::string(simdjson::minify(doc.value()));
  };
  std::string full = parse(full_response(ApiKind::kChat, head, "a \"quoted\"\nline", "length", usage));
  EXPECT_NE(full.find(R"("object":"chat.completion")"), std::string::npos);
  EXPECT_NE(full.find(R"("content":"a \"quoted\"\nline")"), std::string::npos);
  EXPECT_NE(full.find(R"("usage":{"prompt_tokens":10,"completion_tokens":3,"total_tokens":13,"prompt_tokens_details":{"cached_tokens":4}})"),
            std::string::npos);
  EXPECT_NE(parse(full_response(ApiKind::kCompletion, head, "t", "length", usage)).find(R"("object":"text_completion")"),
            std::string::npos);
  for (const std::string& event : {role_chunk(head), token_chunk(ApiKind::kChat, head, " w", ""),
                                   token_chunk(ApiKind::kCompletion, head, " w", "length", usage),
                                   usage_chunk(ApiKind::kChat, head, usage)}) {
    ASSERT_EQ(event.rfind("data: ", 0), 0u) << event;
    ASSERT_EQ(event.substr(event.size() - 2), "\n\n") << event;
    parse(event.substr(6, event.size() - 8));
  }
  EXPECT_NE(token_chunk(ApiKind::kChat, head, " w", "").find(R"("finish_reason":null)"), std::string::npos);
  EXPECT_NE(usage_chunk(ApiKind::kChat, head, usage).find(R"("choices":[])"), std::string::npos);
  std::string e = parse(error_body(ApiError{404, "no \\ such", "invalid_request_error", "model", "model_not_found"}));
  EXPECT_EQ(e, R"({"error":{"message":"no \\ such","type":"invalid_request_error","param":"model","code":"model_not_found"}})");
  EXPECT_EQ(parse(error_body(ApiError{400, "m", "invalid_request_error", "", ""})),
            R"({"error":{"message":"m","type":"invalid_request_error","param":null,"code":null}})");
  parse(models_body(kModels, 5));
  EXPECT_EQ(json_escape(std::string("\x01\t", 2)), "\\u0001\\t");
}

TEST(LiveTokenizer, EqualPrefixesGiveEqualBlockHashesAndDifferentOnesDiffer) {
  const std::string a = std::string(200, 'a') + "tail one", b = std::string(200, 'a') + "other tail!";
  auto ta = tokenize(a), tb = tokenize(b);
  EXPECT_EQ(ta.size(), (a.size() + 3) / 4);
  auto ha = block_hash_ids(ta, 16), hb = block_hash_ids(tb, 16);
  // 200 shared bytes = 50 tokens: the first 3 blocks of 16 are equal, the 4th (tokens 48-63) not
  ASSERT_EQ(ha.size(), 3u);
  ASSERT_EQ(hb.size(), 3u);
  EXPECT_EQ(ha, hb);
  auto c = tokenize(std::string(64, 'a') + std::string(200, 'b')), d = tokenize(std::string(64, 'a') + std::string(200, 'c'));
  auto hc = block_hash_ids(c, 16), hd = block_hash_ids(d, 16);
  EXPECT_EQ(hc[0], hd[0]);
  EXPECT_NE(hc[1], hd[1]);
  EXPECT_TRUE(block_hash_ids(std::vector<std::uint32_t>(15, 1), 16).empty());  // a partial block is never reused
  EXPECT_EQ(tokenize(a), ta);  // deterministic
}

TEST(LivePrometheus, TextFormatWithCumulativeBucketsAndTotals) {
  MetricsText m;
  m.family("vllm:prompt_tokens", MetricsText::Type::kCounter, "Prompt tokens.");
  m.sample({{"model_name", "m\"x"}, {"engine", "0"}}, 12);
  m.family("lag", MetricsText::Type::kHistogram, "Lag.");
  const double bounds[] = {0.1, 1.0};
  PromHistogram h(bounds);
  h.observe(0.05);
  h.observe(0.1);  // le is inclusive
  h.observe(0.5, 2);
  h.observe(7);
  m.histogram({}, h);
  EXPECT_EQ(m.text(),
            "# HELP vllm:prompt_tokens_total Prompt tokens.\n# TYPE vllm:prompt_tokens_total counter\n"
            "vllm:prompt_tokens_total{model_name=\"m\\\"x\",engine=\"0\"} 12\n"
            "# HELP lag Lag.\n# TYPE lag histogram\n"
            "lag_bucket{le=\"0.1\"} 2\nlag_bucket{le=\"1\"} 4\nlag_bucket{le=\"+Inf\"} 5\nlag_sum 8.15\nlag_count 5\n");
  EXPECT_EQ(prom_value(std::nan("")), "NaN");
}

PoolConfig vllm_pool() {
  PoolConfig p;
  p.engine.scheduler = "vllm";
  p.engine.max_num_seqs = 8;
  p.engine.max_num_batched_tokens = 64;
  p.engine.watermark = 0;
  return p;
}

// progress() makes the engine's implicit decode counts explicit; abort() drops a request between
// iterations and gives back its blocks, whatever state it is in.
TEST(LiveEngine, ProgressCountsTokensAndAbortFreesEveryBlock) {
  for (const char* name : {"vllm", "sglang", "basic"}) {
    PoolConfig pool = vllm_pool();
    pool.engine.scheduler = name;
    SchedulerContext ctx{pool, 0, 64};
    auto sched = SchedulerRegistry::instance().create(name, ctx);
    std::deque<Request> reqs;
    for (std::uint64_t i = 0; i < 3; ++i)
      reqs.push_back(testing::make_request(i, 0, 40, 50, {100 + i, 200 + i, 300 + i}));
    TimeNs now = 0;
    for (auto& r : reqs) sched->enqueue(&r, now);
    auto step = [&] {
      BatchShape b;
      ASSERT_TRUE(sched->plan(now, b));
      now += 1000;
      IterationResult res;
      sched->complete(now, res);
    };
    for (int i = 0; i < 6; ++i) step();
    std::vector<EngineScheduler::TokenProgress> progress;
    sched->progress(progress);
    ASSERT_FALSE(progress.empty()) << name;
    for (const auto& p : progress) {
      EXPECT_GT(p.tokens, 0u) << name;
      EXPECT_LT(p.tokens, 50u) << name;
    }
    // a running request and a waiting one (if any) go; the rest run to the end
    EXPECT_TRUE(sched->abort(&reqs[0])) << name;
    EXPECT_FALSE(sched->abort(&reqs[0])) << name;  // not here any more
    Request stranger = testing::make_request(9, 0, 10, 10);
    EXPECT_FALSE(sched->abort(&stranger)) << name;
    size_t finished = 0;
    for (int i = 0; i < 200 && finished < 2; ++i) {
      BatchShape b;
      if (!sched->plan(now, b)) break;
      now += 1000;
      IterationResult res;
      sched->complete(now, res);
      finished += res.finished.size();
      for (Request* r : res.finished) EXPECT_NE(r, &reqs[0]) << name;
    }
    EXPECT_EQ(finished, 2u) << name;
    const EngineLoad l = sched->load();
    EXPECT_EQ(l.running + l.waiting, 0) << name;
    EXPECT_EQ(l.kv_blocks_used, 0) << name;  // the aborted request's blocks came back too
  }
}

}  // namespace
}  // namespace servesim::live
