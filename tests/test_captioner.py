"""The attribute captioner on constructed images: each measured attribute changes the words."""
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
