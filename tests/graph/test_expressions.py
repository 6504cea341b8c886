import pytest

from modstudio.graph.expressions import ExpressionError, evaluate, is_expression, names_used


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        ("=channels * 4", 256),
        ("=channels // 2 + 1", 33),
        ("=(channels + stride) * 2", 132),
        ("=-stride", -2),
        ("=max(channels, 100)", 100),
        ("=min(channels, stride * 8)", 16),
        ("=2 ** 3", 8),
        ("=channels / 128", 0.5),
        ("=int(channels * 1.5)", 96),
    ],
)
def test_evaluates_arithmetic_on_module_parameters(text, expected):
    assert evaluate(text, {"channels": 64, "stride": 2}) == expected


def test_names_used_excludes_functions():
    assert names_used("=max(channels, width) * 2") == {"channels", "width"}


@pytest.mark.parametrize(
    ("text", "words"),
    [
        ("=__import__('os').system('echo hi')", "only the functions"),
        ("=channels.__class__", "Attribute is not allowed"),
        ("=[1, 2]", "List is not allowed"),
        ("='a' * 3", "only numbers"),
        ("=lambda: 1", "Lambda is not allowed"),
        ("=channels *", "cannot parse"),
        ("=", "empty expression"),
        ("=channels if 1 else 2", "IfExp is not allowed"),
        ("=open('x')", "only the functions"),
        ("=True + 1", "only numbers"),
        ("=channels and 1", "BoolOp is not allowed"),
    ],
)
def test_rejects_anything_but_arithmetic(text, words):
    with pytest.raises(ExpressionError, match=words):
        evaluate(text, {"channels": 64})


def test_unknown_name_lists_the_known_ones():
    with pytest.raises(ExpressionError, match=r"unknown name 'chanels' \(module parameters: channels, stride\)"):
        evaluate("=chanels * 2", {"channels": 64, "stride": 1})


def test_guards_against_huge_and_undefined_results():
    with pytest.raises(ExpressionError, match="exponent"):
        evaluate("=9 ** 9999999", {})
    with pytest.raises(ExpressionError, match="division by zero"):
        evaluate("=channels / 0", {"channels": 1})
    with pytest.raises(ExpressionError, match="longer than"):
        evaluate("=" + "1+" * 200 + "1", {})


def test_is_expression():
    assert is_expression("=a")
    assert not is_expression("relu")
    assert not is_expression(3)
