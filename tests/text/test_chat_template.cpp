// Chat templates: the shared reference renderings (Python Jinja2 as transformers runs it), hand-made
// templates for each construct, errors naming the line, and prompt templates.
#include "support/catch.h"

#include <cstdlib>
#include <ctime>
#include <fstream>
#include <map>

#include "support/paths.h"
#include "zeroth/core/error.h"
#include "zeroth/text/chat_template.h"
#include "zeroth/text/tokenizer.h"

using namespace zeroth;
using namespace zeroth::text;
using zeroth::testing::tokenizer_dir;
using zeroth::testing::test_data_path;

namespace {

// `extra`: template variables the references were rendered with (the Llama 3 references pin
// date_string to the template's fallback day; zeroth, like transformers, defaults it to today).
void check_chat_reference(const std::string& name, const Json& extra = Json::object()) {
  // Only tokenizer_config.json is needed: build the template from it directly (fast).
  Json config = load_json(tokenizer_dir(name) + "/tokenizer_config.json");
  Json specials = Json::object();
  for (const char* key : {"bos_token", "eos_token", "pad_token", "unk_token"}) {
    if (!config.contains(key) || config[key].is_null()) continue;
    specials[key] = config[key].is_string() ? config[key] : config[key]["content"];
  }
  ChatTemplate tmpl(config["chat_template"].get<std::string>(), specials);
  std::ifstream in(tokenizer_dir(name) + "/chat_template_sample.jsonl");
  std::string line;
  int line_no = 0;
  while (std::getline(in, line)) {
    if (line.empty()) continue;
    ++line_no;
    Json j = Json::parse(line);
    INFO(name << " chat line " << line_no);
    CHECK(tmpl.render(j["messages"], j["add_generation_prompt"].get<bool>(), extra) == j["rendered"].get<std::string>());
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
TEST_CASE("llama3 chat template renders every reference conversation", "[text][chat]") {
  check_chat_reference("llama3", Json{{"date_string", "26 Jul 2024"}});
}

TEST_CASE("qwen3 template: thinking, tools and generation prompt", "[text][chat]") {
  Json config = load_json(tokenizer_dir("qwen3") + "/tokenizer_config.json");
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
  CHECK_THROWS_WITH(ChatTemplate("line 1\n{% include 'other.jinja' %}"), Catch::Contains("line 2") && Catch::Contains("include"));
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

// One-feature probes. Every expected string (and the line of every error) is what jinja2 3.1.2,
// configured as transformers configures it (scripts/chat_template_reference.py), rendered for the
// same template and context.
namespace {

int64_t pinned_clock() {  // 2026-01-15 09:30:05 local time, the reference script's strftime_now
  std::tm pinned{};
  pinned.tm_year = 2026 - 1900;
  pinned.tm_mon = 0;
  pinned.tm_mday = 15;
  pinned.tm_hour = 9;
  pinned.tm_min = 30;
  pinned.tm_sec = 5;
  pinned.tm_isdst = -1;
  return static_cast<int64_t>(std::mktime(&pinned));
}

std::string probe(const std::string& src) {
  Json messages = Json::parse(R"([{"role": "user", "content": "u1"}, {"role": "assistant", "content": "a1", "tool_calls": []},
                                  {"role": "user", "content": "u2"}])");
  ChatTemplate tmpl(src);
  tmpl.fix_clock(pinned_clock());
  return tmpl.render(messages, false);
}

}  // namespace

TEST_CASE("jinja2 features, each checked against jinja2's own rendering", "[text][chat][jinja2]") {
  CHECK(probe("{% macro greet(name, punct='!') %}Hi {{ name }}{{ punct }}{% endmacro %}{{ greet('Ann') }} {{ greet('Bo', punct='?') }} {{ greet(name='Cy', punct='.') }}") == "Hi Ann! Hi Bo? Hi Cy.");
  CHECK(probe("{% macro outer(x) %}[{{ inner(x * 2) }}]{% endmacro %}{% macro inner(y=0) %}{{ y }}{% endmacro %}{{ outer(3) }}{{ inner() }}") == "[6]0");
  CHECK(probe("{% set top = 'T' %}{% macro m() %}{{ top }}{% endmacro %}{{ m() }}") == "T");
  CHECK(probe("{% macro box() %}<{{ caller() }}>{% endmacro %}{% call box() %}inside{% endcall %}") == "<inside>");
  CHECK(probe("{%- macro render(c) -%}\n  {%- if c is string -%}{{ c }}{%- else -%}{%- for p in c -%}{{ p.text }}{%- endfor -%}{%- endif -%}\n{%- endmacro -%}\n{{ render('a') }}|{{ render([{'text': 'b'}, {'text': 'c'}]) }}") == "a|bc");
  CHECK(probe("{{ '}}' ~ \"%}\" }}{% set s = '%}' %}{{ s }}{{ {'a': {'b': 1}} }}") == "}}%}%}{'a': {'b': 1}}");
  CHECK(probe("a\r\nb {% if true %}\r\nc{% endif %}\r\n") == "a\nb c");
  CHECK(probe("line\n") == "line");
  CHECK(probe("line\n\n") == "line\n");
  CHECK(probe("{% for k, v in {'b': 1, 'A': 2, 'c': 0} | dictsort %}{{ k }}={{ v }};{% endfor %}") == "A=2;b=1;c=0;");
  CHECK(probe("{% for k, v in {'b': 1, 'a': 2} | dictsort(by='value', reverse=true) %}{{ k }}{{ v }}{% endfor %}") == "a2b1");
  CHECK(probe("{% set x %}hello {{ 1 + 1 }}{% endset %}[{{ x }}]") == "[hello 2]");
  CHECK(probe("{% set a, b = [1, 2] %}{{ a }}{{ b }}{% set c, d = 'xy' %}{{ d }}{{ c }}") == "12yx");
  CHECK(probe("{% set t = 1, 2 %}{{ t | length }}") == "2");
  CHECK(probe("{{ messages | selectattr('role', 'equalto', 'user') | map(attribute='content') | join(',') }}") == "u1,u2");
  CHECK(probe("{{ messages | rejectattr('role', 'eq', 'user') | list | length }}{{ messages | selectattr('tool_calls') | list | length }}{{ messages | selectattr('tool_calls', 'defined') | list | length }}") == "101");
  CHECK(probe("{{ [1, 2, 3, 4] | select('even') | list }}{{ [1, 2, 3, 4] | reject('gt', 2) | list }}{{ ['a', 'b'] | select('in', ['b']) | list }}") == "[2, 4][1, 2]['b']");
  CHECK(probe("{{ strftime_now('%Y-%m-%d %d %b %Y %B %A %H:%M') }}") == "2026-01-15 15 Jan 2026 January Thursday 09:30");
  CHECK(probe("{{ [1, 2] | map('string') | join('-') }}{{ ['a', 'B'] | map('upper') | list }}{{ [{'x': 1}, {}] | map(attribute='x', default=0) | list }}") == "1-2['A', 'B'][1, 0]");
  CHECK(probe("{{ [[1, 2], [3]] | map('length') | list }}{{ [{'a': {'b': 5}}] | map(attribute='a.b') | first }}") == "[2, 1]5");
  CHECK(probe("{% set d = {0: 'zero', 1: 'one'} %}{{ d[1] }}{{ d }}{{ d | tojson }}{{ 0 in d }}{% for k in d %}{{ k + 1 }}{% endfor %}") == "one{0: 'zero', 1: 'one'}{\"0\": \"zero\", \"1\": \"one\"}True12");
  CHECK(probe("{% generation %}gen {{ 1 }}{% endgeneration %}!") == "gen 1!");
  CHECK(probe("{{ {'b': 1, 'a': [1, 2]} | tojson(sort_keys=true) }}{{ {'a': 1, 'b': 2} | tojson(separators=(',', ':')) }}") == "{\"a\": [1, 2], \"b\": 1}{\"a\":1,\"b\":2}");
  CHECK(probe("{{ {'a': 'é'} | tojson }}{{ {'a': 'é😀'} | tojson(ensure_ascii=true) }}{{ [1, {'k': []}] | tojson(indent=2) }}") == "{\"a\": \"é\"}{\"a\": \"\\u00e9\\ud83d\\ude00\"}[\n  1,\n  {\n    \"k\": []\n  }\n]");
  CHECK(probe("{{ {'a': [1, 2]} | tojson(indent=2, separators=(', ', ' = ')) }}{{ 'x' | tojson(4) }}") == "{\n  \"a\" = [\n    1, \n    2\n  ]\n}\"x\"");
  CHECK(probe("{{ '\\u00e9\\x41\\t|\\101\\U0001F600\\q' }}") == "éA\t|A😀\\q");
  CHECK(probe("{{ 2 ** 10 }} {{ -2 ** 2 }} {{ 2 ** 3 ** 2 }} {{ 2 ** -1 }} {{ 1e3 }} {{ 2.5e-3 }} {{ 1_000 }} {{ 1E2 }}") == "1024 4 64 0.5 1000.0 0.0025 1000 100.0");
  CHECK(probe("{{ 'a' is in 'abc' }}{{ 3 is gt 2 }}{{ 3 is ne 3 }}{{ 2 is le 2 }}{{ 1 is lt 0 }}{{ 3 is ge 4 }}{{ 3 is eq 3 }}{{ 'x' is in ['x'] }}") == "TrueTrueFalseTrueFalseFalseTrueTrue");
  CHECK(probe("{{ 6 is divisibleby 3 }}{{ 'abc' is lower }}{{ 'ABC' is upper }}{{ range is callable }}{{ 3 is greaterthan 1 }}{{ none is sameas none }}") == "TrueTrueTrueTrueTrueTrue");
  CHECK(probe("{% for i in range(5) %}{{ loop.cycle('a', 'b', 'c') }}{% endfor %}") == "abcab");
  CHECK(probe("{% filter upper %}hi {{ 'there' }}{% endfilter %}{% filter replace('a', 'o') | trim %}  banana {% endfilter %}") == "HI THEREbonono");
  CHECK(probe("{{ [3, 1, 2, 1] | unique | list }}{{ ['a', 'A', 'b'] | unique | list }}{{ [3, 1, 2] | sort }}{{ [3, 1, 2] | sort(reverse=true) }}") == "[3, 1, 2]['a', 'b'][1, 2, 3][3, 2, 1]");
  CHECK(probe("{{ ['b', 'A', 'c'] | sort }}{{ ['b', 'A', 'c'] | sort(case_sensitive=true) }}{{ [{'n': 2, 'm': 'x'}, {'n': 1, 'm': 'y'}] | sort(attribute='n') | map(attribute='m') | join }}") == "['A', 'b', 'c']['A', 'b', 'c']yx");
  CHECK(probe("{{ 'abcabc'.count('bc') }}{{ 'aaaa'.count('aa') }}{{ 'héllo'.find('l') }}{{ 'abc'.find('z') }}{{ 'abcabc'.rfind('a') }}{{ 'abc'.index('c') }}") == "222-132");
  CHECK(probe("{{ 'a-b-c'.rsplit('-', 1) }}{{ 'x\\ny\\r\\nz'.splitlines() }}{{ 'ab'.upper().isupper() }}{{ '42'.isdigit() }}{{ '{} and {}'.format(1, 'two') }}") == "['a-b', 'c']['x', 'y', 'z']TrueTrue1 and two");
  CHECK(probe("{% set x = [1, 2, 3] %}{{ x.pop() }}{{ x }}{{ x.append is defined }}{{ {'a': 1}.__class__ is defined }}") == "3[1, 2]FalseFalse");
  // jinja2: SecurityError: access to attribute 'append' of 'list' object is unsafe.
  CHECK_THROWS_WITH(probe("{% set x = [1] %}{{ x.append(2) }}"), Catch::Contains("line 1"));
  // jinja2: SecurityError: access to attribute 'update' of 'dict' object is unsafe.
  CHECK_THROWS_WITH(probe("{% set d = {'a': 1} %}{{ d.update({'b': 2}) }}"), Catch::Contains("line 1"));
  CHECK(probe("{{ 'a\\nb' | indent(2) }}|{{ 'a\\n\\nb' | indent(2, true, true) }}|{{ [1, 5, 3] | max }}{{ [1, 5, 3] | min }}{{ [1, 2, 3] | sum }}{{ 2.567 | round(2) }}{{ 2.5 | round }}") == "a\n  b|  a\n  \n  b|5162.572.0");
  CHECK(probe("{{ '%s=%d' | format('x', 3) }}{{ '<a href=\"x\">' | e }}{{ 'a b  c' | wordcount }}{{ 'x' | attr('upper') is defined }}") == "x=3&lt;a href=&#34;x&#34;&gt;3True");
  CHECK(probe("{{ '3.7' | int }}{{ 'zz' | int(7) }}{{ '2' | float }}{{ 'abc' | reverse }}{{ [1, 2] | reverse | list }}{{ -3 | abs }}") == "372.0cba[2, 1]3");
  CHECK(probe("{% raw %}{{ not evaluated }}{% endraw %}") == "{{ not evaluated }}");
  // jinja2: TypeError: unsupported operand type(s) for +: 'int' and 'str'
  CHECK_THROWS_WITH(probe("{{ 1 + 'a' }}"), Catch::Contains("line 1"));
  // jinja2: TypeError: 'int' object is not iterable
  CHECK_THROWS_WITH(probe("a\n{% for x in 3 %}{% endfor %}"), Catch::Contains("line 2"));
  // jinja2: TypeError: macro 'm' takes not more than 1 argument(s)
  CHECK_THROWS_WITH(probe("{% macro m(a) %}{% endmacro %}{{ m(1, 2) }}"), Catch::Contains("line 1"));
  CHECK(probe("{{ ['a\\u200db', 'x\\x7fy', \"it's\", 'q\"', '\\u00a0', '\\U0001F600'] }}") == "['a\\u200db', 'x\\x7fy', \"it's\", 'q\"', '\\xa0', '😀']");
  CHECK(probe("{{ (1, 2) }}{{ (1,) }}{{ (1, 2) == [1, 2] }}{{ ((1, 2) + (3,)) | length }}") == "(1, 2)(1,)False3");
  CHECK(probe("{{ 'x' % [] }}{{ '%s-%s' % (1, 'a') }}{{ '%d%%' | format(5) }}") == "x1-a5%");
  CHECK(probe("{{ 'hello world-wide (x)' | title }}|{{ \"they're\".title() }}|{{ 'éa' | capitalize }}|{{ 'straße' | upper }}") == "Hello World-Wide (X)|They'Re|Éa|STRASSE");
  CHECK(probe("{{ true == 1 }}{{ 0 == false }}{{ 1 in [true] }}{{ true | abs }}{{ 2.0 | round }}{{ 3 | round }}") == "TrueTrueTrue12.03");
  // jinja2: TemplateSyntaxError: expected token 'end of statement block', got 'true'
  CHECK_THROWS_WITH(probe("{% if x is defined if true %}{% endif %}"), Catch::Contains("line 1"));
  // jinja2: TemplateSyntaxError: You cannot chain multiple tests with is
  CHECK_THROWS_WITH(probe("{{ 1 is string is number }}"), Catch::Contains("line 1"));
  // jinja2: SyntaxError: 'break' outside loop (<template>, line 11)
  CHECK_THROWS_WITH(probe("{% break %}"), Catch::Contains("outside loop"));
  // jinja2: SyntaxError: 'break' outside loop (<template>, line 16)
  CHECK_THROWS_WITH(probe("a\n{% macro m() %}{% break %}{% endmacro %}{% for i in [1,2] %}{{ m() }}{{ i }}{% endfor %}"), Catch::Contains("outside loop"));
  CHECK(probe("{% for i in [1,2] %}{% set x %}{% break %}{% endset %}{{ i }}{% endfor %}") == "");
  CHECK(probe("{% for i in [1, 2, 3] %}{% macro show() %}{{ i }}{% endmacro %}{{ show() }}{% endfor %}") == "123");
  CHECK(probe("{{ 1e999 }}") == "inf");
  // jinja2's scoping of names assigned at top level (or at a block's level).
  CHECK(probe("{% set v %}{% for i in [1] %}[{{ messages | length }}]{% endfor %}{% set messages = [1] %}{{ messages | length }}{% endset %}{{ v }}{{ messages | length }}") == "[3]13");
  CHECK(probe("{% set n = 'outer' %}{% filter upper %}{% set n = 1 %}{% endfilter %}{{ n }}|{% set v %}{% set n = 2 %}{{ n }}{% endset %}{{ n }}{{ v }}") == "outer|outer2");
  CHECK(probe("{% for i in [1] %}{{ messages | length }}{% endfor %}{% set messages = [] %}{{ messages | length }}") == "00");
  CHECK(probe("{{ messages | length }}{% for i in [1] %}{{ messages | length }}{% endfor %}{% set messages = [] %}") == "33");
  CHECK(probe("{% for i in [1] %}{{ messages | length }}{% endfor %}{% if false %}{% set messages = [] %}{% endif %}") == "3");
  CHECK(probe("{% macro m() %}{{ messages | length }}{% endmacro %}{{ m() }}{% set messages = [1] %}{{ m() }}") == "01");
  CHECK(probe("{% set x = 1 %}{% for i in [1, 2] %}{{ x }}{% set x = 2 %}{{ x }}{% endfor %}{{ x }}") == "12121");
  // jinja2 folds -2 to a constant written unparenthesised into Python: -2 ** x is -(2 ** x).
  CHECK(probe("{% set t = true %}{% set n = 3 %}{{ -2 ** 2 }} {{ -2 ** t }} {{ -2 ** (1 + 1) }} {{ -2.0 ** n }} {{ -n ** 2 }}") == "4 -2 4 -8.0 9");
  CHECK(probe("{{ 1e2 % -2 }} {{ -7.5 // 2 }} {{ 7.5 % -2 }} {{ -0.0 }} {{ 0.0 // -1 }} {{ -1 // 3.0 }}") == "-0.0 -4.0 -0.5 -0.0 -0.0 -1.0");
  CHECK(probe("{{ 'abc'.removeprefix('ab') }}{{ 'abc'.removesuffix('bc') }}{{ 'abc'.removeprefix('x') }}") == "caabc");
  CHECK(probe("{% for s in ['abc', 'ÉtÉ', 'é1', '٣4', '½', 'ABC', 'Abc', '', ' \t', 'a b', 'ǅ', 'x_'] %}{{ s.isdigit() }}{{ s.isalpha() }}{{ s.isalnum() }}{{ s.isspace() }}{{ s.islower() }}{{ s.isupper() }};{% endfor %}") == "FalseTrueTrueFalseTrueFalse;FalseTrueTrueFalseFalseFalse;FalseFalseTrueFalseTrueFalse;TrueFalseTrueFalseFalseFalse;FalseFalseTrueFalseFalseFalse;FalseTrueTrueFalseFalseTrue;FalseTrueTrueFalseFalseFalse;FalseFalseFalseFalseFalseFalse;FalseFalseFalseTrueFalseFalse;FalseFalseFalseFalseTrueFalse;FalseTrueTrueFalseFalseFalse;FalseFalseFalseFalseTrueFalse;");
}

// The differential corpus: real templates (tests/data/chat_templates/*.jinja, sources in the README
// there) over the conversations of conversations.json, rendered by jinja2 configured as transformers'
// apply_chat_template (scripts/chat_template_reference.py writes expected.jsonl, with strftime_now
// pinned to 2026-01-15 09:30:05 local time). zeroth must render each byte for byte, and raise where
// jinja2 raises, naming the same template line.
TEST_CASE("chat templates render as jinja2 does", "[text][chat][jinja2]") {
  std::string dir = test_data_path("chat_templates");
  std::ifstream in(dir + "/expected.jsonl");
  REQUIRE(in.good());
  Json conversations = load_json(dir + "/conversations.json");
  std::map<std::string, Json> by_name;
  for (const Json& c : conversations) by_name[c["name"].get<std::string>()] = c;
  const Json specials = {{"bos_token", "<|BOS|>"}, {"eos_token", "<|EOS|>"}, {"pad_token", "<|PAD|>"}, {"unk_token", "<|UNK|>"}};
  const int64_t now = pinned_clock();
  std::map<std::string, std::string> sources;
  std::string line;
  int cases = 0, rendered = 0;
  while (std::getline(in, line)) {
    if (line.empty()) continue;
    Json row = Json::parse(line);
    std::string name = row["template"].get<std::string>();
    const Json& conv = by_name.at(row["conversation"].get<std::string>());
    INFO(name << " x " << conv["name"].get<std::string>());
    ++cases;
    std::string& src = sources[name];
    if (src.empty()) {
      std::ifstream src_in(dir + "/" + name, std::ios::binary);
      src.assign(std::istreambuf_iterator<char>(src_in), std::istreambuf_iterator<char>());
    }
    auto render_case = [&](const Json& messages, bool agp, const Json& extra) {
      ChatTemplate tmpl(src, specials, name);  // parse errors count as the case's error
      tmpl.fix_clock(now);
      return tmpl.render(messages, agp, extra);
    };
    Json extra = conv.value("extra", Json::object());
    extra["tools"] = conv.value("tools", Json());
    extra["documents"] = conv.value("documents", Json());
    bool agp = conv.value("add_generation_prompt", false);
    if (row.contains("rendered")) {
      try {
        CHECK(render_case(conv["messages"], agp, extra) == row["rendered"].get<std::string>());
      } catch (const std::exception& e) {
        FAIL_CHECK("zeroth raised where jinja2 rendered: " << e.what());
      }
      ++rendered;
    } else {
      const Json& err = row["error"];
      std::string want = err["line"].is_null() ? std::string(name) : cat(name, " line ", err["line"].get<int>(), ":");
      INFO("jinja2 raised " << err["type"].get<std::string>() << ": " << err["message"].get<std::string>());
      CHECK_THROWS_WITH(render_case(conv["messages"], agp, extra), Catch::Contains(want));
    }
  }
  CHECK(cases > 100);
  CHECK(rendered > 0);
}

// Generated templates (scripts/chat_template_reference.py's grammar fuzzer) over one context:
// zeroth and jinja2 must agree on every case: the same bytes, or both raise (at the same line).
// ZEROTH_CHAT_FUZZ_CASES names another case file: `chat_template_reference.py --fuzz SECONDS
// --zeroth-test BINARY` writes fresh ones and runs this test on them.
TEST_CASE("chat template fuzz cases agree with jinja2", "[text][chat][jinja2]") {
  const char* env = std::getenv("ZEROTH_CHAT_FUZZ_CASES");
  std::string path = env && *env ? std::string(env) : test_data_path("chat_templates/fuzz_cases.jsonl");
  std::ifstream in(path);
  REQUIRE(in.good());
  std::string line;
  REQUIRE(std::getline(in, line));
  Json context = Json::parse(line)["context"];
  Json messages = context["messages"];
  bool agp = context["add_generation_prompt"].get<bool>();
  context.erase("messages");
  context.erase("add_generation_prompt");
  int cases = 0;
  while (std::getline(in, line)) {
    if (line.empty()) continue;
    Json row = Json::parse(line);
    std::string src = row["template"].get<std::string>();
    INFO("case " << ++cases << ": " << src);
    auto render_case = [&]() {
      ChatTemplate tmpl(src, Json::object(), "fuzz");
      tmpl.fix_clock(pinned_clock());
      return tmpl.render(messages, agp, context);
    };
    if (row.contains("rendered")) {
      try {
        CHECK(render_case() == row["rendered"].get<std::string>());
      } catch (const std::exception& e) {
        FAIL_CHECK("zeroth raised where jinja2 rendered: " << e.what());
      }
    } else {
      const Json& err = row["error"];
      INFO("jinja2 raised " << err["type"].get<std::string>() << ": " << err["message"].get<std::string>());
      std::string want = err["line"].is_null() ? std::string("fuzz") : cat("fuzz line ", err["line"].get<int>(), ":");
      CHECK_THROWS_WITH(render_case(), Catch::Contains(want));
    }
  }
  CHECK(cases > 0);
}
