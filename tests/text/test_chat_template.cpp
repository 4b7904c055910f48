// Chat templates: the shared reference renderings (Python Jinja2 as transformers runs it), hand-made
// templates for each construct, errors naming the line, and prompt templates.
#include <catch2/catch.hpp>

#include <fstream>

#include "support/paths.h"
#include "zeroth/core/error.h"
#include "zeroth/text/chat_template.h"
#include "zeroth/text/tokenizer.h"

using namespace zeroth;
using namespace zeroth::text;
using zeroth::testing::shared_path;

namespace {

void check_chat_reference(const std::string& name) {
  // Only tokenizer_config.json is needed: build the template from it directly (fast).
  Json config = load_json(shared_path("tokenizers/" + name + "/tokenizer_config.json"));
  Json specials = Json::object();
  for (const char* key : {"bos_token", "eos_token", "pad_token", "unk_token"}) {
    if (!config.contains(key) || config[key].is_null()) continue;
    specials[key] = config[key].is_string() ? config[key] : config[key]["content"];
  }
  ChatTemplate tmpl(config["chat_template"].get<std::string>(), specials);
  std::ifstream in(shared_path("tokenizers/" + name + "/chat_template_sample.jsonl"));
  std::string line;
  int line_no = 0;
  while (std::getline(in, line)) {
    if (line.empty()) continue;
    ++line_no;
    Json j = Json::parse(line);
    INFO(name << " chat line " << line_no);
    CHECK(tmpl.render(j["messages"], j["add_generation_prompt"].get<bool>()) == j["rendered"].get<std::string>());
  }
  CHECK(line_no > 0);
}

std::string render(const std::string& src, const Json& messages = Json::array(), bool agp = false,
                   const Json& extra = Json::object()) {
  return ChatTemplate(src).render(messages, agp, extra);
}

}  // namespace

TEST_CASE("qwen3 chat template renders every reference conversation", "[text][chat]") { check_chat_reference("qwen3"); }
TEST_CASE("deepseek_v3 chat template renders every reference conversation", "[text][chat]") {
  check_chat_reference("deepseek_v3");
}
TEST_CASE("llama3 chat template renders every reference conversation", "[text][chat]") { check_chat_reference("llama3"); }

TEST_CASE("qwen3 template: thinking, tools and generation prompt", "[text][chat]") {
  Json config = load_json(shared_path("tokenizers/qwen3/tokenizer_config.json"));
  ChatTemplate tmpl(config["chat_template"].get<std::string>(), Json{{"eos_token", "<|im_end|>"}});
  Json msgs = Json::parse(R"([{"role": "user", "content": "Hi"}])");
  CHECK(tmpl.render(msgs, true) == "<|im_start|>user\nHi<|im_end|>\n<|im_start|>assistant\n");
  CHECK(tmpl.render(msgs, true, Json{{"enable_thinking", false}}) ==
        "<|im_start|>user\nHi<|im_end|>\n<|im_start|>assistant\n<think>\n\n</think>\n\n");
  Json tools = Json::parse(R"([{"type": "function", "function": {"name": "f", "parameters": {}}}])");
  std::string with_tools = tmpl.render(msgs, false, Json{{"tools", tools}});
  CHECK(with_tools.find("<tools>\n{\"type\": \"function\", \"function\": {\"name\": \"f\", \"parameters\": {}}}\n</tools>") !=
        std::string::npos);
}

TEST_CASE("jinja constructs", "[text][chat]") {
  CHECK(render("{% for m in messages %}{{ loop.index }}:{{ m.role }}{% if not loop.last %},{% endif %}{% endfor %}",
               Json::parse(R"([{"role":"a"},{"role":"b"},{"role":"c"}])")) == "1:a,2:b,3:c");
  CHECK(render("{%- set ns = namespace(x=1) %}{% set ns.x = ns.x + 1 %}{{ ns.x }}") == "2");
  CHECK(render("{% set x = 1 %}{% for i in [1,2] %}{% set x = i %}{% endfor %}{{ x }}") == "1");
  CHECK(render("{{ \"a,b,c\".split(\",\")[-1] }}") == "c");
  CHECK(render("{{ '  hi  ' | trim }}|{{ 'xxhixx'.strip('x') }}|{{ ' a b '.split() }}") == "hi|hi|['a', 'b']");
  CHECK(render("{{ [1,2,3][1:] }}{{ 'abc'[::-1] }}{{ 'abcdef'[1:5:2] }}") == "[2, 3]cbabd");
  CHECK(render("{{ x is defined }}{{ none is none }}{{ 's' is string }}{{ 1 is not string }}") == "FalseTrueTrueTrue");
  CHECK(render("{{ {\"a\": 1, \"b\": \"x\\\"\"} | tojson }}") == "{\"a\": 1, \"b\": \"x\\\"\"}");
  CHECK(render("{{ {\"a\": [1]} | tojson(indent=2) }}") == "{\n  \"a\": [\n    1\n  ]\n}");
  CHECK(render("{{ 'b' in 'abc' }} {{ 'z' not in ['a'] }} {{ 'k' in {'k': 1} }}") == "True True True");
  CHECK(render("{{ 7 // 2 }} {{ -7 // 2 }} {{ 7 % 3 }} {{ 1 / 2 }} {{ 2 * 3 + 1 }}") == "3 -4 1 0.5 7");
  CHECK(render("{{ x | default('d') }}{{ '' | default('e', true) }}") == "de");
  CHECK(render("{{ ['a','b'] | join('-') }}{{ ['a','b'] | first }}{{ ['a','b'] | last }}{{ 'aXb' | replace('X','y') | upper }}") ==
        "a-babAYB");
  CHECK(render("{{ 'y' if true else 'n' }}{{ 'y' if false else 'n' }}") == "yn");
  CHECK(render("a  {%- if true -%}  b  {%- endif -%}  c") == "abc");
  CHECK(render("x\n  {% if true %}\n  y\n  {% endif %}\nz") == "x\n  y\nz");
  CHECK(render("x {# note #}\n{{- 'y' }}") == "x y");
  CHECK(render("{% for i in [1,2,3] %}{% if i == 2 %}{% break %}{% endif %}{{ i }}{% endfor %}") == "1");
  CHECK(render("{% for i in [1,2,3] %}{% if i == 2 %}{% continue %}{% endif %}{{ i }}{% endfor %}") == "13");
  CHECK(render("{% for i in [] %}x{% else %}empty{% endfor %}") == "empty");
  CHECK(render("{% for k, v in {\"a\": 1, \"b\": 2}.items() %}{{ k }}={{ v }};{% endfor %}") == "a=1;b=2;");
  CHECK(render("{{ none }} {{ true }} {{ 1.5 }} {{ [1, 'a'] }} {{ 100000000000.0 * 1000000000.0 }} {{ 0.1 + 0.2 }}") ==
        "None True 1.5 [1, 'a'] 1e+20 0.30000000000000004");
  CHECK(render("{% if a == 1 %}one{% elif a == 2 %}two{% else %}many{% endif %}", Json::array(), false, Json{{"a", 2}}) == "two");
  CHECK(render("{{ messages | length }}{{ 'héllo' | length }}", Json::parse("[1, 2]")) == "25");
  CHECK(render("{{ bos_token ~ 'x' }}", Json::array(), false, Json{{"bos_token", "<s>"}}) == "<s>x");
  CHECK(render("{{ add_generation_prompt }}{{ tools is none }}", Json::array(), true) == "TrueTrue");
}

TEST_CASE("template errors name the line", "[text][chat][errors]") {
  CHECK_THROWS_WITH(ChatTemplate("line 1\n{% macro f() %}{% endmacro %}"), Catch::Contains("line 2") && Catch::Contains("macro"));
  CHECK_THROWS_WITH(render("a\nb\n{{ raise_exception('boom') }}"), Catch::Contains("line 3") && Catch::Contains("boom"));
  CHECK_THROWS_WITH(ChatTemplate("{% if x %}never closed"), Catch::Contains("endif"));
  CHECK_THROWS_WITH(render("\n{{ 1 | frobnicate }}"), Catch::Contains("line 2") && Catch::Contains("frobnicate"));
  CHECK_THROWS_WITH(ChatTemplate("{{ 1 + }}"), Catch::Contains("line 1"));
  CHECK_THROWS_WITH(ChatTemplate("{% endfor %}"), Catch::Contains("endfor"));
  CHECK_THROWS_WITH(render("{{ x.y }}"), Catch::Contains("undefined"));
}

TEST_CASE("prompt templates", "[text][chat]") {
  PromptTemplate t("Q: {question}\nA: {{x}} {n}");
  CHECK(t.render(Json{{"question", "2+2"}, {"n", 3}}) == "Q: 2+2\nA: {x} 3");
  CHECK(t.fields() == std::vector<std::string>{"question", "n"});
  CHECK_THROWS_WITH(t.render(Json{{"questoin", "x"}, {"n", 1}}), Catch::Contains("did you mean \"questoin\""));
  CHECK_THROWS_WITH(PromptTemplate("a } b"), Catch::Contains("'}}'"));
  CHECK_THROWS_WITH(PromptTemplate("a { b"), Catch::Contains("unclosed"));
}
