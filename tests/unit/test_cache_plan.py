"""Score-cache sizes at the paper's shapes, the budget policy, and the float16 row codec."""
import pytest
import torch

from qrexp.engine.cache_plan import (doc_scores_bytes, estimate_cache_bytes, plan_cache,
                                     token_scores_bytes)
from qrexp.engine.cache_records import (HEADER_BYTES, decode_record, encode_record, half_encode,
                                        half_round)
from qrexp.engine.score_cache import ScoreCache, fingerprint

# Table 2 (BEIR re-ranking) with Llama-3.1-8B-Instruct: 32 layers x 32 query heads, BM25 top-200
# candidates of <= 400 words (30-60K prompt tokens), 512 queries per data set.
L, H, D, QUERIES = 32, 32, 200, 512
TOKENS = (30_000, 45_000, 60_000)


def test_table2_dataset_fits_one_gb():
    per_query = doc_scores_bytes(D, L, H)
    assert per_query == HEADER_BYTES + 4 * 200 * 32 * 32 == 819_712
    dataset = estimate_cache_bytes(L, H, D, n_examples=QUERIES)
    assert dataset == QUERIES * per_query == 419_692_544 <= 1e9
    # the old design: raw TokenScores [2, L, H, T] float32 per query (whenever L*H*T <= 64M)
    old = {t: 2 * L * H * t * 4 for t in TOKENS}
    assert old[30_000] == 245_760_000 and old[60_000] == 491_520_000      # 180-490 MB per query
    assert QUERIES * old[30_000] / per_query > 290                         # > 290x smaller
    # document token scores in float16 are still far above 1 GB per data set: the plan admits few
    for t in TOKENS:
        assert token_scores_bytes(t, L, H) == HEADER_BYTES + 8 * L * H + 4 * L * H * t
    plan = plan_cache(L, H, [D] * QUERIES, [45_000] * QUERIES, tokens_needed=True, max_bytes=10**9)
    assert plan.total_bytes <= 10**9 and plan.token_examples == 3 and plan.recomputed == 509
    assert "examples 4-512 of 512 keep no token scores" in plan.describe()
    assert "1.000 GB" in plan.describe() or "budget 1.000 GB" in plan.describe()
    free = plan_cache(L, H, [D] * QUERIES, [45_000] * QUERIES, tokens_needed=False, max_bytes=10**9)
    assert free.total_bytes == dataset and free.recomputed == 0
    assert free.recompute_note().startswith("nothing")


def test_plan_refuses_a_budget_below_the_doc_scores():
    with pytest.raises(ValueError, match=r"cache.max_gb=0.1: the DocScores of 512 examples alone "
                                         r"need 0.420 GB; raise cache.max_gb to at least 0.420"):
        plan_cache(L, H, [D] * QUERIES, [45_000] * QUERIES, tokens_needed=True, max_bytes=10**8)


def test_estimate_inputs_are_checked():
    assert estimate_cache_bytes(2, 3, [4, 5]) == 2 * HEADER_BYTES + 4 * 9 * 6
    assert estimate_cache_bytes(2, 3, [4, 5], [10, 20], token_scores=True) == (
        2 * HEADER_BYTES + 4 * 9 * 6 + 2 * (HEADER_BYTES + 8 * 6) + 4 * 6 * 30)
    with pytest.raises(ValueError, match="give n_examples"):
        estimate_cache_bytes(2, 3, 4)
    with pytest.raises(ValueError, match="doc_tokens has 1 entries for 2 examples"):
        estimate_cache_bytes(2, 3, [4, 5], [10], token_scores=True)


def test_half_rows_keep_eleven_bits_over_the_row_range():
    gen = torch.Generator().manual_seed(0)
    # attention-like rows: positive, spanning 6 decades; and calibrated rows with both signs
    x = torch.cat([torch.rand(3, 4, 500, generator=gen) * 10 ** -torch.randint(0, 6, (3, 4, 500), generator=gen),
                   torch.randn(3, 4, 500, generator=gen) * 1e-6])
    scales, values = half_encode(x)
    assert values.dtype == torch.float16 and scales.dtype == torch.float32
    assert torch.equal(torch.log2(scales), torch.log2(scales).round())        # powers of two
    rel = ((half_round(x) - x).abs() / x.abs().clamp_min(1e-30))
    big = x.abs() >= x.abs().amax(-1, keepdim=True) * 2 ** -9                  # normal float16 range
    assert rel[big].max() <= 2 ** -11 and torch.equal(half_round(half_round(x)), half_round(x))
    assert torch.equal(half_round(torch.zeros(2, 3)), torch.zeros(2, 3))


@pytest.mark.parametrize("compress", [False, True])
def test_record_round_trip_and_size(tmp_path, compress):
    key = fingerprint(x=1)
    tokens = torch.rand(2, 3, 4, 50) * 1e-3
    raw = encode_record(key, "doc_token_scores", dict(zip(("scales", "values"), half_encode(tokens))),
                        compress)
    kind, parts = decode_record(raw, key)
    assert kind == "doc_token_scores" and parts["values"].dtype == torch.float16
    assert (len(raw) <= token_scores_bytes(50, 3, 4)) and (compress or len(raw) == token_scores_bytes(50, 3, 4))
    cache = ScoreCache(tmp_path)
    cache.put_tokens(key, tokens, compress)
    assert torch.equal(cache.get_tokens(key, (2, 3, 4, 50)), half_round(tokens))
    with pytest.warns(RuntimeWarning, match=r"shape \[2, 3, 4, 50\], the prompt needs \[2, 3, 4, 51\]"):
        assert cache.get_tokens(key, (2, 3, 4, 51)) is None
    cache.put(key, torch.ones(5, 3, 4))
    assert cache.bytes_on_disk() == doc_scores_bytes(5, 3, 4)
    with pytest.warns(RuntimeWarning, match="holds 'doc_scores', not 'doc_token_scores'"):
        assert cache.get_tokens(key) is None
