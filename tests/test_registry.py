import pytest

from biozoo.errors import BiozooError
from biozoo.registry import Registry


def test_register_get_and_names():
    reg: Registry[type] = Registry("widget")

    @reg.register("alpha")
    class Alpha:
        pass

    assert reg.get("alpha") is Alpha
    assert "alpha" in reg and "beta" not in reg
    assert reg.names() == ["alpha"]


def test_duplicate_name_is_an_error():
    reg: Registry[int] = Registry("widget")
    reg.register("a")(1)
    with pytest.raises(ValueError, match="already registered"):
        reg.register("a")(2)


def test_typo_suggests_the_close_name():
    reg: Registry[int] = Registry("encoder")
    reg.register("transformer")(1)
    reg.register("mlp")(2)
    with pytest.raises(BiozooError, match="did you mean 'transformer'"):
        reg.get("transfomer")
    with pytest.raises(BiozooError, match="known: mlp, transformer"):
        reg.get("zzzz")
