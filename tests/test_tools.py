"""--tools, --environment and --chat-template: tool calling through TRL's loop, checked before weights load."""

from __future__ import annotations

import json
import math
import re
import sys
import textwrap

import pytest
from hypothesis import given
from hypothesis import strategies as st

import train_grpo
from grpo_suite import tools
from grpo_suite.errors import UsageError
from recipes.calculator_tool import calculator


def test_the_calculator_evaluates_arithmetic_and_nothing_else():
    assert calculator("12 * (3 + 4)") == "84"
    assert calculator("7 / 2") == "3.5" and calculator("2^10") == "1024" and calculator("-3 + 1") == "-2"
    for bad in ("__import__('os').system('true')", "1/0", "2 ** 1000", "x + 1", "1 +", "9" * 300):
        assert calculator(bad).startswith("error:"), bad


@given(st.integers(-(10**6), 10**6), st.integers(-(10**6), 10**6), st.sampled_from(["+", "-", "*"]))
def test_the_calculator_agrees_with_python_on_integer_arithmetic(a, b, op):
    assert calculator(f"{a} {op} ({b})") == str(eval(f"{a} {op} ({b})"))  # noqa: S307 - the reference answer


def _module(monkeypatch, tmp_path, name, source):
    (tmp_path / f"{name}.py").write_text(textwrap.dedent(source))
    monkeypatch.syspath_prepend(str(tmp_path))
    monkeypatch.delitem(sys.modules, name, raising=False)


def test_a_tool_without_types_or_docstring_is_one_line(tmp_path, monkeypatch):
    monkeypatch.chdir(tmp_path)
    _module(
        monkeypatch,
        tmp_path,
        "bad_tools",
        '''
        def untyped(x):
            """Does things.

            Args:
                x: a thing
            """
            return x

        def undocumented(x: int) -> int:
            return x

        VALUE = 3


        class Tool:
            """A documented class.

            Args:
                x: a thing
            """

            def __init__(self, x: int):
                self.x = x


        def spread(*args: int) -> int:
            """Adds them.

            Args:
                args: the numbers
            """
            return sum(args)
        ''',
    )
    with pytest.raises(UsageError, match="--tools bad_tools:untyped: .*type hint on every argument"):
        tools.load_tools("bad_tools:untyped")
    with pytest.raises(UsageError, match="--tools bad_tools:undocumented: .*docstring"):
        tools.load_tools("bad_tools:undocumented")
    with pytest.raises(UsageError, match="is not a function"):
        tools.load_tools("bad_tools:VALUE")
    with pytest.raises(UsageError, match="bad_tools:Tool is a class, not a Python function"):
        tools.load_tools("bad_tools:Tool")
    with pytest.raises(UsageError, match="os:getcwd is a builtin_function_or_method, not a Python function"):
        tools.load_tools("os:getcwd")
    with pytest.raises(UsageError, match="\\*args cannot be shown to the model"):
        tools.load_tools("bad_tools:spread")
    with pytest.raises(UsageError, match="--tools is empty"):
        tools.load_tools(" , ")
    with pytest.raises(UsageError, match="has no 'missing'"):
        tools.load_tools("bad_tools:missing")
    with pytest.raises(UsageError, match="must look like module:name"):
        tools.load_tools("bad_tools")
    with pytest.raises(UsageError, match="two tools share a name"):
        tools.load_tools("recipes.calculator_tool:calculator,recipes.calculator_tool:calculator")
    assert [f.__name__ for f in tools.load_tools("recipes.calculator_tool:calculator, ")] == ["calculator"]


def test_an_environment_needs_reset_and_documented_methods(tmp_path, monkeypatch):
    monkeypatch.chdir(tmp_path)
    _module(
        monkeypatch,
        tmp_path,
        "envs",
        '''
        class Counter:
            def __init__(self):
                self.n = 0

            def reset(self, **kwargs):
                self.n = 0

            def add(self, k: int) -> int:
                """Adds k to the counter.

                Args:
                    k: how much to add
                """
                self.n += k
                return self.n

            def get_reward(self):
                return float(self.n)

        class NoReset:
            def add(self, k: int) -> int:
                """Adds.

                Args:
                    k: how much
                """
                return k

        def broken():
            raise RuntimeError("no database")
        ''',
    )
    from types import SimpleNamespace

    clash = SimpleNamespace(tools="recipes.calculator_tool:calculator", environment="envs:Counter")
    tools._loaded.cache_clear()
    assert [t.__name__ for t in tools.shown_tools(clash)] == ["calculator", "add"]
    assert tools.environment_reward(clash) == "Counter"
    source = 'def add(k: int) -> int:\n    """Adds one.\n\n    Args:\n        k: a number\n    """\n    return k + 1\n'
    _module(monkeypatch, tmp_path, "twice", source)
    with pytest.raises(UsageError, match="both define a tool named 'add'"):
        tools.shown_tools(SimpleNamespace(tools="twice:add", environment="envs:Counter"))
    factory = tools.load_environment("envs:Counter")
    assert [m.__name__ for m in tools.environment_methods(factory())] == ["add"]  # not reset, not get_reward
    with pytest.raises(UsageError, match="has no reset\\(\\) method"):
        tools.load_environment("envs:NoReset")
    with pytest.raises(UsageError, match="calling it failed \\(RuntimeError: no database\\)"):
        tools.load_environment("envs:broken")


def test_a_template_trl_cannot_train_tools_with_is_one_line_before_weights(real_model):
    from types import SimpleNamespace

    from transformers import AutoTokenizer

    args = SimpleNamespace(
        tools="recipes.calculator_tool:calculator", environment=None, model="smollm2", chat_template=None
    )
    for name, message in [
        (None, "cannot show tool calls and their results"),  # SmolLM2's own
        ("llama3_1", "TRL cannot train tool calls with the chat template"),  # not prefix-preserving, no variant
        ("qwen2_5", None),
        ("qwen3", None),  # not prefix-preserving, but TRL has a training variant
    ]:
        tokenizer = AutoTokenizer.from_pretrained(real_model)
        if name:
            tokenizer.chat_template = tools.chat_template_text(name)
        if message is None:
            tools.check_template(args, tokenizer)
            assert getattr(tokenizer, "response_template", None) is not None  # TRL can parse the calls back
        else:
            with pytest.raises(UsageError, match=message):
                tools.check_template(args, tokenizer)


def test_a_chat_template_is_a_file_or_one_of_trls(tmp_path):
    assert "<tool_call>" in tools.chat_template_text("qwen2_5")
    path = tmp_path / "t.jinja"
    path.write_text("{% for m in messages %}{{ m['content'] }}{% endfor %}")
    assert tools.chat_template_text(str(path)).startswith("{% for m")
    with pytest.raises(UsageError, match="TRL ships no template by that name; pass a .jinja file or one of .*qwen2_5"):
        tools.chat_template_text("qwen9")
    with pytest.raises(UsageError, match="is a folder; pass the .jinja file itself"):
        tools.chat_template_text(str(tmp_path))
    bom = tmp_path / "bom.jinja"
    bom.write_bytes("\ufeff{{ messages[0]['content'] }}".encode())
    assert tools.chat_template_text(str(bom)) == "{{ messages[0]['content'] }}"


def _base(demo_assets, out):
    return ["--model", str(demo_assets.model_dir), "--dataset", str(demo_assets.data_dir), "--local-only"] + [
        "--output-dir",
        str(out),
    ]


def test_tools_with_a_template_that_cannot_show_them_are_one_line(demo_assets, tmp_path, capsys):
    out = tmp_path / "run"
    argv = _base(demo_assets, out) + ["--tools", "recipes.calculator_tool:calculator"]
    assert train_grpo.main(argv) == 2
    err = capsys.readouterr().err.strip()
    assert "cannot show tool calls and their results; pass --chat-template" in err and len(err.splitlines()) == 1
    assert not out.exists()
    assert train_grpo.main(argv + ["--chat-template", "nope"]) == 2
    assert "TRL ships no template by that name" in capsys.readouterr().err and not out.exists()
    chatml = tmp_path / "chatml.jinja"  # renders prompts, not tool calls: the fault is the flag's, and it says so
    chatml.write_text("{% for m in messages %}<|im_start|>{{ m['role'] }}\n{{ m['content'] }}<|im_end|>\n{% endfor %}")
    assert train_grpo.main(argv + ["--chat-template", str(chatml)]) == 2
    assert f"--chat-template {chatml} cannot show tool calls" in capsys.readouterr().err and not out.exists()


def test_the_dry_run_says_when_the_tools_schema_makes_a_prompt_too_long(demo_assets, capsys):
    argv = ["--model", str(demo_assets.model_dir), "--dataset", str(demo_assets.data_dir), "--local-only"]
    argv += ["--dry-run", "--tools", "recipes.calculator_tool:calculator", "--chat-template", "qwen2_5"]
    assert train_grpo.main(argv) == 0  # the demo model's context is 512 tokens, one per character
    out = capsys.readouterr().out
    assert "WARNING: TRAINING WOULD BE REFUSED: the prompt of row 0 has" in out
    assert "(the tools' schema and the template's text included)" in out


def test_the_dry_run_shows_the_tool_schema_in_the_prompt(real_model, demo_assets, capsys):
    argv = ["--model", str(real_model), "--dataset", str(demo_assets.data_dir), "--local-only", "--dry-run"]
    argv += ["--tools", "recipes.calculator_tool:calculator", "--chat-template", "qwen2_5"]
    assert train_grpo.main(argv) == 0
    out = capsys.readouterr().out
    rendered = out.split("prompt as the model sees it:\n", 1)[1].split("tools the model is shown", 1)[0]
    assert "<tools>\n" in rendered and '"name": "calculator"' in rendered and rendered.startswith("<|im_start|>")
    shown = json.loads(
        out.split("tools the model is shown (1), after the prompt above:\n", 1)[1].split("\nreference:")[0]
    )
    assert shown[0]["function"]["parameters"]["required"] == ["expression"]


@pytest.fixture(scope="module")
def tool_caller(demo_assets):
    """demo.py's tool-calling model (a tiny Llama taught to answer with a calculator call), built offline."""
    import demo

    return demo.ensure_tool_caller(demo_assets.model_dir.parent.parent)


@pytest.mark.slow
def test_a_tool_calling_run_calls_the_calculator_through_trls_loop(tool_caller, demo_assets, tmp_path, monkeypatch):
    monkeypatch.chdir(tmp_path)
    calls = tmp_path / "calls.txt"
    _module(
        monkeypatch,
        tmp_path,
        "logged_tools",
        f"""
        from recipes.calculator_tool import calculator as _calculate

        def calculator(expression: str) -> str:
            with open({str(calls)!r}, "a") as f:
                f.write(expression + "\\n")
            return _calculate(expression)

        calculator.__doc__ = _calculate.__doc__  # the schema the tool caller was trained with


        def reply_length(completions, **kwargs):
            # the tool caller's replies differ only after the tool's result: a reward with spread for them
            return [sum(len(str(m.get("content") or "")) for m in c) / 1000 for c in completions]
        """,
    )
    out = tmp_path / "run"
    argv = ["--model", str(tool_caller), "--dataset", str(demo_assets.data_dir), "--local-only"]
    argv += ["--output-dir", str(out), "--max-steps", "2", "--max-completion-length", "120", "--logging-steps", "1"]
    argv += ["--per-device-train-batch-size", "8", "--num-generations", "4", "--temperature", "1.0"]
    argv += ["--tools", "logged_tools:calculator", "--grpo-arg", "max_tool_calling_iterations=1"]
    argv += ["--extra-reward", "logged_tools:reply_length"]
    argv += ["--dynamic-sampling"]  # rounds with tool turns joined into one batch (their tool masks padded)
    assert train_grpo.main(argv) == 0
    logged = [json.loads(line) for line in (out / "metrics.jsonl").read_text().splitlines() if '"loss"' in line]
    assert len(logged) == 2 and all(math.isfinite(row["loss"]) for row in logged)
    assert all(0.0 <= row["dynamic_sampling/dropped_frac"] < 1.0 for row in logged)
    frequency = [row["tools/call_frequency"] for row in logged]
    assert all(f > 0 for f in frequency), frequency  # TRL parsed the calls and ran the tool
    made = calls.read_text().splitlines()
    assert "1+1" in made  # the user's function itself was called with the model's arguments
    record = json.loads((out / "run_config.json").read_text())
    assert record["args"]["tools"] == "logged_tools:calculator"


@pytest.mark.slow
def test_the_probe_counts_completions_that_call_a_tool(tool_caller, demo_assets, capsys):
    argv = ["--model", str(tool_caller), "--dataset", str(demo_assets.data_dir), "--local-only", "--probe", "2"]
    argv += ["--max-completion-length", "100", "--per-device-train-batch-size", "8", "--num-generations", "4"]
    argv += ["--temperature", "0.1", "--tools", "recipes.calculator_tool:calculator"]
    assert train_grpo.main(argv) == 0
    found = re.search(r"completions calling a tool in their first turn (\d+\.\d)%", capsys.readouterr().out)
    assert found and float(found.group(1)) > 50.0


def test_the_difficulty_filter_is_refused_with_tools(demo_assets, tmp_path, capsys):
    out = tmp_path / "run"
    argv = _base(demo_assets, out) + ["--tools", "recipes.calculator_tool:calculator", "--chat-template", "qwen2_5"]
    assert train_grpo.main(argv + ["--difficulty-filter"]) == 2
    assert "--difficulty-filter measures pass rates on first replies" in capsys.readouterr().err
    assert not out.exists()


def test_the_comparison_says_that_a_tool_run_is_compared_without_tools(tmp_path):
    import compare_base_vs_lora as compare

    parser = compare.build_parser()
    args = parser.parse_args(["--adapter", str(tmp_path)])
    run = {"args": {"tools": "recipes.calculator_tool:calculator", "max_completion_length": 64}}
    notes: list[str] = []
    compare.run_contract(args, [compare.Adapter("lora", tmp_path, {}, run)], notes)
    assert any("the run trained with tools (recipes.calculator_tool:calculator)" in n for n in notes), notes
    notes.clear()
    compare.run_contract(args, [compare.Adapter("lora", tmp_path, {}, {"args": {}})], notes)
    assert not any("tools" in n for n in notes)


@pytest.mark.slow
def test_an_environment_runs_through_trls_loop_and_its_reward_is_logged(tool_caller, demo_assets, tmp_path):
    out = tmp_path / "run"
    argv = ["--model", str(tool_caller), "--dataset", str(demo_assets.data_dir), "--local-only"]
    argv += ["--output-dir", str(out), "--max-steps", "2", "--max-completion-length", "120", "--logging-steps", "1"]
    argv += ["--per-device-train-batch-size", "8", "--num-generations", "4", "--temperature", "1.0"]
    argv += ["--environment", "recipes.calculator_tool:CalculatorEnv", "--grpo-arg", "max_tool_calling_iterations=1"]
    assert train_grpo.main(argv) == 0
    logged = [json.loads(line) for line in (out / "metrics.jsonl").read_text().splitlines() if '"loss"' in line]
    assert len(logged) == 2
    for row in logged:
        # TRL's get_reward column, named after the class: 1 exactly where the environment's tool ran once and
        # worked (one call per rollout, the iteration bound), so its mean is the share of calls that did not fail.
        succeeded = row["tools/call_frequency"] * (1 - row["tools/failure_frequency"])
        assert row["rewards/CalculatorEnv/mean"] == pytest.approx(succeeded, abs=1e-6)
        assert row["tools/call_frequency"] > 0
