#!/usr/bin/env python3
"""Reference renderings of chat templates by jinja2, configured as transformers' apply_chat_template.

Renders every template in tests/data/chat_templates/*.jinja over every conversation of
tests/data/chat_templates/conversations.json and writes tests/data/chat_templates/expected.jsonl,
which the C++ test `chat templates render as jinja2 does` compares with zeroth byte for byte.

The environment matches transformers (utils/chat_template_utils.py, _compile_jinja_template):
ImmutableSandboxedEnvironment(trim_blocks=True, lstrip_blocks=True) with the loopcontrols extension,
a `{% generation %}` tag that renders its body, the filter tojson = json.dumps(ensure_ascii=False,
indent, separators, sort_keys), and the globals raise_exception and strftime_now. The render call
passes messages, tools, documents, add_generation_prompt, the special tokens and the extra kwargs.
strftime_now is pinned to FIXED_NOW so the stored renderings do not change with the date.

Usage: /usr/bin/python3 scripts/chat_template_reference.py   (needs jinja2; Debian: python3-jinja2)
Also usable as a module: render(source, context) -> (text, None) or (None, (kind, message, line)).
"""
import datetime
import json
import os
import sys
import traceback

import jinja2
from jinja2 import nodes
from jinja2.ext import Extension
from jinja2.sandbox import ImmutableSandboxedEnvironment

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
DATA = os.path.join(ROOT, "tests", "data", "chat_templates")
FIXED_NOW = datetime.datetime(2026, 1, 15, 9, 30, 5)
SPECIAL_TOKENS = {"bos_token": "<|BOS|>", "eos_token": "<|EOS|>", "pad_token": "<|PAD|>", "unk_token": "<|UNK|>"}


class GenerationTag(Extension):
    """`{% generation %}...{% endgeneration %}` renders its body (transformers tracks the offsets)."""

    tags = {"generation"}

    def parse(self, parser):
        lineno = next(parser.stream).lineno
        body = parser.parse_statements(["name:endgeneration"], drop_needle=True)
        return nodes.CallBlock(self.call_method("_render", []), [], [], body).set_lineno(lineno)

    def _render(self, caller):
        return caller()


def _raise_exception(message):
    raise jinja2.exceptions.TemplateError(message)


def _tojson(x, ensure_ascii=False, indent=None, separators=None, sort_keys=False):
    return json.dumps(x, ensure_ascii=ensure_ascii, indent=indent, separators=separators, sort_keys=sort_keys)


def _strftime_now(fmt):
    return FIXED_NOW.strftime(fmt)


def make_env():
    env = ImmutableSandboxedEnvironment(trim_blocks=True, lstrip_blocks=True,
                                        extensions=[GenerationTag, jinja2.ext.loopcontrols])
    env.filters["tojson"] = _tojson
    env.globals["raise_exception"] = _raise_exception
    env.globals["strftime_now"] = _strftime_now
    return env


ENV = make_env()


def _template_line(exc):
    if isinstance(exc, jinja2.exceptions.TemplateSyntaxError):
        return exc.lineno
    line = None
    for frame in traceback.extract_tb(exc.__traceback__):
        if frame.filename == "<template>":
            line = frame.lineno
    return line


def render(source, context):
    try:
        return ENV.from_string(source).render(**context), None
    except Exception as exc:  # noqa: BLE001 - every jinja2 failure is an expected outcome here
        return None, (type(exc).__name__, str(exc), _template_line(exc))


def context_for(conv):
    ctx = {"messages": conv["messages"], "tools": conv.get("tools"), "documents": conv.get("documents"),
           "add_generation_prompt": conv.get("add_generation_prompt", False)}
    ctx.update(SPECIAL_TOKENS)
    ctx.update(conv.get("extra", {}))
    return ctx


def main():
    convs = json.load(open(os.path.join(DATA, "conversations.json"), encoding="utf-8"))
    names = sorted(f for f in os.listdir(DATA) if f.endswith(".jinja"))
    out_path = os.path.join(DATA, "expected.jsonl")
    n_ok = n_err = 0
    with open(out_path, "w", encoding="utf-8") as out:
        for name in names:
            # open(newline="") keeps CRLF as is: the renderer must normalise it as jinja2 does
            source = open(os.path.join(DATA, name), encoding="utf-8", newline="").read()
            for conv in convs:
                text, err = render(source, context_for(conv))
                row = {"template": name, "conversation": conv["name"]}
                if err is None:
                    row["rendered"] = text
                    n_ok += 1
                else:
                    row["error"] = {"type": err[0], "message": err[1], "line": err[2]}
                    n_err += 1
                out.write(json.dumps(row, ensure_ascii=False) + "\n")
    print(f"jinja2 {jinja2.__version__}: {len(names)} templates x {len(convs)} conversations: "
          f"{n_ok} rendered, {n_err} raised -> {os.path.relpath(out_path, ROOT)}")


if __name__ == "__main__":
    sys.exit(main())
