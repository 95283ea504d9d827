"""The tiny Wan model's procedural data, prompt embeddings, latent and ground-truth judges (plain torch)."""
import os
import sys

import pytest
import torch

sys.path.insert(0, os.path.join(os.path.dirname(__file__), "..", "..", "tools", "tiny_wan"))

import data  # noqa: E402
import latent  # noqa: E402


@pytest.fixture(scope="module")
def batch():
    gen = torch.Generator().manual_seed(0)
    ids = torch.arange(data.N_PROMPTS).repeat(2)
    video, layout = data.render_batch(ids, gen)
    return ids, video, layout


def test_vocabulary_and_prompt_parsing():
    prompts = data.all_prompts()
    assert len(prompts) == len(set(prompts)) == data.N_PROMPTS == 72
    assert prompts[0] == "a red disc moving right"
    for i, p in enumerate(prompts):
        assert data.parse_prompt(p) == data.prompt_parts(i)
    assert data.parse_prompt("Moving UP, a cyan bar") == data.PromptParts(4, 2, 3)
    with pytest.raises(ValueError):
        data.parse_prompt("a red blue disc moving left")


def test_prompt_embedding_is_fixed_and_word_based():
    e = data.embed_prompt("a red disc moving left")
    assert e.shape == (data.CONTEXT_LEN, data.TEXT_DIM) and e.dtype == torch.float32
    assert torch.equal(e, data.embed_prompt("a red disc moving left"))
    words = "a red disc moving left".split()
    sentence = torch.stack([data.word_vector(w) for w in words]).sum(dim=0) / 5 ** 0.5
    assert all(torch.equal(e[i], sentence) for i in range(5, data.CONTEXT_LEN))   # padding = sentence
    assert 0.8 < float(e.std()) < 1.25
    assert torch.count_nonzero(data.embed_prompt("")) == 0
    # token i is mostly word i, plus the whole sentence
    vecs = torch.stack([data.word_vector(w) for w in words])
    for i in range(5):
        cos = torch.nn.functional.cosine_similarity(e[i:i + 1], vecs).tolist()
        assert max(range(5), key=lambda j: cos[j]) == i and all(c > 0.15 for c in cos)
    other = data.embed_prompt("a blue disc moving left")
    assert not torch.equal(e[0], other[0])                     # contextual: every token changes
    assert torch.count_nonzero(data.null_embedding(2)) == 0
    assert data.prompt_table().shape == (72, data.CONTEXT_LEN, data.TEXT_DIM)


def test_latent_roundtrip_is_exact_and_unit_scaled(batch):
    _, video, _ = batch
    z = latent.encode(video)
    assert z.shape == latent.latent_shape(video.shape[0], data.FRAMES, data.SIZE, data.SIZE)
    assert torch.allclose(latent.decode(z), video, atol=1e-5)
    assert 0.8 < float(z.std()) < 1.2 and abs(float(z.mean())) < 0.2
    assert float(latent.padding_energy(z).max()) < 1e-10
    # decode ignores the padding directions entirely
    mix = latent.MIX
    pad_dir = mix[:, latent.RGB_CHANNELS:].sum(dim=1).view(1, -1, 1, 1, 1)
    assert torch.allclose(latent.decode(z + 3.0 * pad_dir), latent.decode(z), atol=1e-5)
    assert torch.allclose(mix @ mix.T, torch.eye(16), atol=1e-5)


def test_videos_move_one_token_per_frame_inside_the_frame(batch):
    ids, video, layout = batch
    c = layout["centres"]
    step = c[:, 1:] - c[:, :-1]
    dirs = torch.tensor([data.prompt_parts(int(i)).direction for i in ids])
    assert torch.allclose(step, (data.DIR_VEC[dirs] * 4.0)[:, None].expand_as(step))
    assert float(video.min()) >= -1.0 and float(video.max()) <= 1.0
    # the object never touches the border (the background estimate relies on it)
    alpha = layout["alpha"]
    assert float(alpha[..., 0, :].max() + alpha[..., -1, :].max() + alpha[..., 0].max() + alpha[..., -1].max()) == 0.0
    # start positions vary
    assert c[:, 0].std(dim=0).min() > 1.0


def test_motion_trail_is_faint_behind_the_object_and_grows_from_frame_0(batch):
    ids, video, layout = batch
    assert data.TRAIL_PX > 0 and data.TRAIL_ALPHA < 0.5
    alpha = layout["alpha"]
    colour = torch.tensor([data.prompt_parts(int(i)).colour for i in ids])
    shape = torch.tensor([data.prompt_parts(int(i)).shape for i in ids])
    plain, body = data.render_layout(colour, shape, layout, trail_px=0.0)
    trail = (alpha - body).clamp(min=0)
    assert float(trail[:, 0].max()) == 0.0                       # frame 0: no trail yet
    assert float(trail[:, 1:].amax(dim=(-2, -1)).min()) > 0.2    # later frames: a visible one
    assert float(trail.max()) <= data.TRAIL_ALPHA + 1e-6          # never as strong as the body
    # the trail lies behind the body: its centroid is displaced against the direction of motion
    dirs = data.DIR_VEC[torch.tensor([data.prompt_parts(int(i)).direction for i in ids])]
    size = data.SIZE
    xs = torch.arange(size, dtype=torch.float32)
    w = trail[:, 2:]
    tc = torch.stack([(w.sum(-2) * xs).sum(-1), (w.sum(-1) * xs).sum(-1)], dim=-1) / w.sum(dim=(-2, -1))[..., None]
    behind = ((tc - layout["centres"][:, 2:]) * dirs[:, None]).sum(-1)
    assert float(behind.max()) < -2.0
    # colour masks (so centroids and shapes) are those of the body alone
    for c in range(len(data.COLOUR_NAMES)):
        assert torch.equal(data.colour_mask(plain, c)[colour == c], data.colour_mask(video, c)[colour == c])


def test_direction_tint_is_a_faint_background_offset(batch):
    ids, video, layout = batch
    dirs = torch.tensor([data.prompt_parts(int(i)).direction for i in ids])
    bg = data.background_colour(video)[:, :, 0]                          # [B, 3]
    offset = bg - layout["bg"][:, None]
    assert torch.allclose(offset, data.DIRECTION_TINT * data.TINTS[dirs], atol=1e-5)
    assert 0 < data.DIRECTION_TINT <= 0.15                                # far below the colour distances


def test_render_prompt_is_deterministic_per_seed():
    a, la = data.render_prompt("a green square moving down", 7)
    b, _ = data.render_prompt("a green square moving down", 7)
    c, lc = data.render_prompt("a green square moving down", 8)
    assert torch.equal(a, b) and not torch.equal(a, c)
    assert a.shape == (1, 3, data.FRAMES, data.SIZE, data.SIZE)


def test_judge_scores_ground_truth_perfectly(batch):
    ids, video, _ = batch
    prompts = [data.prompt_parts(int(i)).text for i in ids]
    v = latent.decode(latent.encode(video)).clamp(-1, 1)
    verdict = data.judge(v, prompts)
    assert bool(verdict["colour"].all()) and bool(verdict["direction"].all())
    assert float(verdict["shape"].float().mean()) >= 0.98
    assert torch.allclose(verdict["speed_along"], torch.full_like(verdict["speed_along"], 4.0), atol=0.3)


def test_judge_rejects_wrong_prompts_and_static_videos(batch):
    ids, video, _ = batch
    wrong = [data.prompt_parts((int(i) + 1) % data.N_PROMPTS).text for i in ids]   # other direction
    assert not bool(data.judge(video, wrong)["direction"].any())
    static = video[:, :, :1].expand_as(video).contiguous()
    prompts = [data.prompt_parts(int(i)).text for i in ids]
    assert not bool(data.judge(static, prompts)["direction"].any())


def test_structure_score(batch):
    _, video, layout = batch
    same = data.structure_score(video, video)
    assert float(same["centroid_dist"].max()) == 0.0 and float(same["iou"].min()) == 1.0
    ids = torch.arange(data.N_PROMPTS).repeat(2)
    colour = torch.tensor([data.prompt_parts(int(i)).colour for i in ids])
    shape = torch.tensor([data.prompt_parts(int(i)).shape for i in ids])
    moved = dict(layout, centres=layout["centres"] + torch.tensor([0.0, 2.0]))   # 2 px down
    shifted, _ = data.render_layout(colour, shape, moved)
    s = data.structure_score(video, shifted)
    d = s["centroid_dist"]
    # exact unless the moved object is cut by the bottom edge of the frame
    assert float(((d - 2.0).abs() < 1e-3).float().mean()) > 0.8 and float(d.max()) <= 2.0 + 1e-3
    assert float(s["iou"].max()) < 1.0
    empty = torch.full_like(video, -0.6)
    diagonal = (2 * data.SIZE ** 2) ** 0.5                    # a missing object counts as the frame diagonal
    assert torch.allclose(data.structure_score(video, empty)["centroid_dist_mean"], torch.tensor(diagonal))


def test_ordered_prompt_embeddings_bind_each_word_to_its_place():
    """data.embed_prompt(ordered=True) (train.py --ordered-prompt, a textures diagnostic): without it
    "red and blue ..." and "blue and red ..." hold the same token vectors in another order (which
    WanModel's position-free cross-attention cannot tell apart); with it the tokens differ, the
    padding (the sentence vector) is unchanged, and the default stays what the committed models use."""
    a, b = "red and blue over fine stripes panning left", "blue and red over fine stripes panning left"
    plain = [data.embed_prompt(p) for p in (a, b)]
    assert torch.allclose(plain[0][[2, 1, 0]], plain[1][:3], atol=1e-5) and torch.allclose(plain[0][3:], plain[1][3:], atol=1e-5)
    ordered = [data.embed_prompt(p, ordered=True) for p in (a, b)]
    assert not torch.allclose(ordered[0][[2, 1, 0]], ordered[1][:3], atol=1e-3)
    short = "red and blue"                                                         # (padded to CONTEXT_LEN)
    assert torch.equal(data.embed_prompt(short, ordered=True)[3:], data.embed_prompt(short)[3:])
    assert torch.allclose(ordered[0].norm(dim=-1)[:8], plain[0].norm(dim=-1)[:8], rtol=0.2)
    assert torch.equal(data.embed_prompt(a), data.embed_prompt(a, ordered=False))
    sys.path.insert(0, os.path.join(os.path.dirname(__file__), "..", "..", "tools", "tiny_wan"))
    import train
    with pytest.raises(SystemExit, match="--ordered-prompt"):
        train.main(["--ordered-prompt", "--bench", "1"])
