"""The attribute captioner on constructed images: each measured attribute changes the words."""
import numpy as np
import pytest
import torch

from vlcp.captioners import CAPTIONERS
from vlcp.captioners.attributes import AttributeCaptioner, measure


def canvas(n=1):
    return torch.zeros(n, 1, 28, 28)


def top(brightness, body_half_width, sleeves="short"):
    """A T-shirt silhouette: a torso, shoulders and either short sleeves or long hanging sleeves."""
    x = canvas()
    c = 14
    x[0, 0, 4:26, c - body_half_width:c + body_half_width] = brightness  # torso
    if sleeves == "short":
        x[0, 0, 4:10, c - body_half_width - 5:c + body_half_width + 5] = brightness
    elif sleeves == "long":
        x[0, 0, 4:26, c - body_half_width - 4:c - body_half_width - 1] = brightness
        x[0, 0, 4:26, c + body_half_width + 1:c + body_half_width + 4] = brightness
        x[0, 0, 4:7, c - body_half_width - 4:c + body_half_width + 4] = brightness
    return x


def shoe(facing):
    """A shoe profile: low toe box and a taller heel/ankle part on the other side."""
    x = canvas()
    x[0, 0, 16:22, 2:26] = 0.7  # sole and toe box
    x[0, 0, 8:22, 18:26] = 0.7  # ankle on the right → toe points left
    return x if facing == "left" else x.flip(-1)


def caption(img, name):
    return AttributeCaptioner().caption(img, [name])[0]


def test_registered_and_each_caption_depends_on_its_image_only():
    """'attributes' builds the AttributeCaptioner; a caption is a function of its own image and class name —
    the same alone, in a batch, in any order — and pinned for a fixed image (a change in wording shows here)."""
    cap = CAPTIONERS.get("attributes")()
    assert isinstance(cap, AttributeCaptioner)
    imgs = torch.cat([top(0.9, 6), shoe("left"), top(0.25, 2, "long")])
    names = ["t-shirt", "sneaker", "shirt"]
    batch = cap.caption(imgs, names)
    assert [cap.caption(imgs[i:i + 1], names[i:i + 1])[0] for i in range(3)] == batch
    assert cap.caption(imgs.flip(0), names[::-1]) == batch[::-1]
    assert batch == [
        "The t-shirt is white with short sleeves. It has a fitted regular-width silhouette and is medium-length, "
        "medium-sized in the frame, with a plain smooth surface.",
        "The sneaker is light grey, mid-height and facing left. It has a flat dark sole, a wide profile, and a plain "
        "smooth surface.",
        "The shirt is black with long sleeves. It has a fitted narrow silhouette and is medium-length, small in the "
        "frame, with a plain smooth surface."]


def test_bright_wide_top_vs_dark_narrow_top():
    bright = caption(top(0.95, 7), "t-shirt")
    dark = caption(top(0.25, 2), "t-shirt")
    assert "white" in bright and "black" in dark
    assert "wide" in bright and "narrow" in dark
    assert bright != dark


def test_short_vs_long_sleeves():
    assert "short sleeves" in caption(top(0.8, 5, "short"), "shirt")
    assert "long sleeves" in caption(top(0.8, 5, "long"), "shirt")


def test_dress_with_straps():
    x = canvas()
    x[0, 0, 3:8, 11:13] = 0.8
    x[0, 0, 3:8, 15:17] = 0.8   # two thin straps
    x[0, 0, 8:26, 8:20] = 0.8   # body
    assert "straps" in caption(x, "dress")


def test_left_vs_right_facing_shoe():
    left, right = caption(shoe("left"), "sneaker"), caption(shoe("right"), "sneaker")
    assert "facing left" in left and "facing right" in right


def test_raised_heel_vs_flat_sole():
    flat = shoe("left")
    heel = flat.clone()
    heel[0, 0, 19:22, 8:18] = 0  # empty space under the arch
    assert "flat" in caption(flat, "sandal")
    assert "raised heel" in caption(heel, "sandal")


def test_bag_handle():
    plain = canvas()
    plain[0, 0, 10:26, 4:24] = 0.6
    handled = plain.clone()
    handled[0, 0, 2:10, 9:19] = 0.6
    handled[0, 0, 4:10, 11:17] = 0.0  # the hole of the handle
    assert "no visible handle" in caption(plain, "bag")
    assert "visible handle on top" in caption(handled, "bag")


def test_plain_vs_printed_texture():
    plain = top(0.7, 6)
    printed = plain.clone()
    printed[0, 0, 10:22:2, 10:18] = 0.2  # stripes
    assert "plain" in caption(plain, "t-shirt")
    assert "pattern" in caption(printed, "t-shirt")


def test_size_and_length():
    small = canvas()
    small[0, 0, 10:18, 10:18] = 0.8
    large = canvas()
    large[0, 0, 1:27, 2:26] = 0.8
    m = measure(torch.cat([small, large]))
    assert m.area[0] < m.area[1] and m.height[0] < m.height[1]
    assert "small" in caption(small, "bag") and "large" in caption(large, "bag")


def test_colour_images_get_hue_words():
    x = torch.zeros(1, 3, 32, 32)
    x[0, 0, 8:24, 8:24] = 0.9  # red square
    assert "red" in caption(x, "thing")
    x = torch.zeros(1, 3, 32, 32)
    x[0, 2, 8:24, 8:24] = 0.9  # blue square
    assert "blue" in caption(x, "thing")


def tank_top():
    """A tank top: two thin straps with the neckline between them, no arms, a narrow straight body."""
    x = canvas()
    x[0, 0, 2:10, 9:11] = 0.8
    x[0, 0, 2:10, 17:19] = 0.8  # straps
    x[0, 0, 10:27, 8:20] = 0.8  # body, as wide as the box
    return x


def attached_long_sleeves(width=5):
    """A long-sleeve top whose arms touch the torso, told apart only by a darker seam column on each side."""
    x = canvas()
    x[0, 0, 3:26, 14 - width - 4:14 + width + 4] = 0.8
    x[0, 0, 8:26, 14 - width - 1] = 0.45
    x[0, 0, 8:26, 14 + width] = 0.45  # seams between the arms and the torso
    return x


def test_tank_top_has_no_sleeves_and_attached_arms_are_long_sleeves():
    assert "with no sleeves" in caption(tank_top(), "top")
    assert "thin straps and no sleeves" in caption(tank_top(), "dress")
    narrow = attached_long_sleeves(width=3)  # box 14 px wide: the seams say long sleeves on a dress
    assert "long sleeves" in caption(narrow, "dress")
    assert "long sleeves" in caption(attached_long_sleeves(width=5), "shirt")  # 18 px: seams count on tops
    assert "long sleeves" in caption(top(0.8, 2, "long"), "shirt")  # narrow, arms apart from the torso


def test_sleeved_garments_never_get_no_sleeves():
    """Coats and pullovers without a narrowing below the shoulders have long sleeves, whatever the seams."""
    assert "long sleeves" in caption(tank_top(), "coat")
    assert "long sleeves" in caption(tank_top(), "pullover")
    assert "short sleeves" in caption(top(0.8, 5, "short"), "coat")


def test_trousers_are_plural_and_their_size_matches_their_length():
    x = canvas()
    x[0, 0, 0:28, 9:13] = 0.6
    x[0, 0, 0:28, 15:19] = 0.6  # two long thin legs: long, but a small area
    x[0, 0, 0:4, 9:19] = 0.6
    for name, plural in [("trouser", "trousers"), ("trousers", "trousers"), ("pants", "pants")]:
        text = caption(x, name)
        assert text.startswith(f"The {plural} are ") and " They are long" in text, text
        assert " is " not in text and "long and small" not in text
        assert "fill a small part of the frame" in text


@pytest.fixture(scope="module")
def fashion_captions():
    """Captions of the first 300 training images of each top class of Debian's Fashion-MNIST."""
    from vlcp.data import DEBIAN_FASHION_MNIST, has_idx_files, load_dataset
    if not has_idx_files(DEBIAN_FASHION_MNIST):
        pytest.skip("Debian's dataset-fashion-mnist is not installed (make setup)")
    data = load_dataset()
    out = {}
    for name in ("t-shirt", "pullover", "coat", "dress", "shirt"):
        idx = np.flatnonzero(data.labels == data.class_names.index(name))[:300]
        out[name] = AttributeCaptioner().caption(data.images(idx), [name] * len(idx))
    return out


def share(captions, words):
    return sum(words in c for c in captions) / len(captions)


def test_fashion_mnist_sleeves_follow_the_class(fashion_captions):
    """Pullovers and coats have long sleeves; T-shirt/tops are mostly short sleeves, with tank tops as
    no sleeves and few long sleeves; sleeveless dresses and shirts exist."""
    for name in ("pullover", "coat"):
        assert share(fashion_captions[name], "long sleeves") >= 0.97, name
    tops = fashion_captions["t-shirt"]
    assert share(tops, "short sleeves") >= 0.7
    assert share(tops, "long sleeves") <= 0.15
    assert share(tops, "no sleeves") >= 0.06
    assert share(fashion_captions["dress"], "no sleeves") >= 0.15
    assert 0.1 <= share(fashion_captions["shirt"], "short sleeves") <= 0.4


def test_strappy_sandal_is_open_not_printed_and_closed_shoe_keeps_its_surface():
    closed = shoe("left")
    sandal = closed.clone()
    sandal[0, 0, 9:20:2, 3:25] = 0.0  # straps: every other row of the upper is empty
    assert "open strappy upper" in caption(sandal, "sandal") and "pattern" not in caption(sandal, "sandal")
    assert "open" not in caption(closed, "sneaker") and "plain smooth surface" in caption(closed, "sneaker")


def test_bag_shape_words_do_not_contradict():
    """A bag filling the frame's height and most of its width is boxy, not 'tall wide'; a broad bag is not 'broad wide'."""
    square = canvas()
    square[0, 0, 1:27, 2:25] = 0.6  # 23 x 26: wide (0.82 of the side), aspect 0.88
    tall = canvas()
    tall[0, 0, 1:27, 8:20] = 0.6
    broad = canvas()
    broad[0, 0, 8:20, 1:27] = 0.6
    assert "boxy wide shape" in caption(square, "bag")
    assert "tall narrow shape" in caption(tall, "bag")
    assert "a broad shape" in caption(broad, "bag")
