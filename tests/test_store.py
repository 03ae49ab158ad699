from stylefit.store import Store, content_key


def test_content_key_depends_on_every_field_and_not_on_order():
    a = content_key({"model": "r1", "prompt": "x", "params": {"k": 3, "variant": "paper"}})
    assert a == content_key({"params": {"variant": "paper", "k": 3}, "prompt": "x", "model": "r1"})
    assert a != content_key({"model": "r2", "prompt": "x", "params": {"k": 3, "variant": "paper"}})
    assert a != content_key({"model": "r1", "prompt": "x", "params": {"k": 2, "variant": "paper"}})


def test_values_survive_a_reopen(tmp_path):
    path = tmp_path / "c.sqlite"
    s = Store(path)
    s.put_many("score", {"k1": {"value": 1.5, "nll": None, "n_tokens": 3}})
    s.close()
    s = Store(path)
    assert s.get_many(["k1", "k2"]) == {"k1": {"value": 1.5, "nll": None, "n_tokens": 3}}
    assert (s.hits, s.misses) == (1, 1) and s.count("score") == 1
