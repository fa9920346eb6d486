"""``export inbound --pseudonymize`` finds a customer's name in any script: written
without spaces (Japanese, Chinese, Thai), with a particle glued on (Korean), with vowel
signs (Hindi) or optional vowel marks (Arabic), and in either Turkish i (an audit found
each of these left in clear)."""

from __future__ import annotations

from typing import Any

import orjson
import pytest

from router.app.export import Pseudonyms

pytestmark = pytest.mark.unit


def message(name: str, text: str, i: int = 1) -> dict[str, Any]:
    """An email of a customer called ``name`` whose text is ``text``."""
    return {
        "specversion": "1.0",
        "id": f"ev-{i}",
        "source": "/v1/channels/email",
        "type": "switchboard.interaction.received",
        "subject": f"email:c{i}@example.com",
        "time": f"2026-11-23T09:0{i}:00Z",
        "data": {
            "channel": "email",
            "customer": {"email": f"c{i}@example.com", "name": name},
            "thread": {"message_id": f"<m{i}@mail.example>"},
            "text": text,
        },
    }


def exported(names: Pseudonyms, name: str, text: str) -> str:
    """The exported text of ``message(name, text)``, asserting that no field of the
    exported event holds the name in clear."""
    out = names.envelope(message(name, text))
    assert name not in orjson.dumps(out).decode()
    text_out: str = out["data"]["text"]
    return text_out


@pytest.mark.parametrize(
    ("name", "text", "expected", "secrets"),
    [
        (
            "山田太郎",
            "お世話になります。山田太郎です。請求書の件、よろしくお願いします。山田",
            "お世話になります。{whole}です。請求書の件、よろしくお願いします。{山田}",
            ("山田", "太郎"),
        ),
        (
            "王小明",
            "你好，我是王小明，我的订单还没到。谢谢！小明",
            "你好，我是{whole}，我的订单还没到。谢谢！{小明}",
            ("王小明", "小明"),
        ),
        (
            "山田 太郎",  # the display name spaced, the text not
            "山田太郎です。山田より",
            "{whole}です。{山田}より",
            ("山田", "太郎"),
        ),
        (
            "김민수",  # spaces between words, but the particle is written onto the name
            "안녕하세요, 김민수입니다. 민수가 주문했어요",
            "안녕하세요, {whole}입니다. {민수}가 주문했어요",
            ("김민수", "민수"),
        ),
        (
            "มานี มีนา",
            "สวัสดีค่ะ ดิฉันชื่อมานีค่ะ มานีมีนา",
            "สวัสดีค่ะ ดิฉันชื่อ{มานี}ค่ะ {whole}",
            ("มานี", "มีนา"),
        ),
    ],
    ids=["japanese", "chinese", "japanese-display-name-spaced", "korean", "thai"],
)
def test_a_name_in_a_script_written_without_spaces_is_replaced_inside_the_sentence(
    name: str, text: str, expected: str, secrets: tuple[str, ...]
) -> None:
    """``山田太郎です`` and ``我是王小明`` were left in clear: the name is no word of its own
    there, and a surname alone (山田) or given name alone (小明) is how people are called."""
    names = Pseudonyms(b"key")
    out = exported(names, name, text)
    for secret in secrets:
        assert secret not in out, out
    parts = {secret: names.name(secret) for secret in secrets}
    assert out == expected.format(whole=names.name(name), **parts)


def test_a_thai_name_leaves_no_vowel_mark_behind() -> None:
    """ "Customer ea49e8ี": the name's last vowel sign was no part of its word."""
    names = Pseudonyms(b"key")
    out = exported(names, "สมศรี ใจดี", "ผมชื่อสมศรีครับ")
    assert out == f"ผมชื่อ{names.name('สมศรี')}ครับ"


def test_a_hindi_name_is_one_word_with_its_vowel_signs_and_virama() -> None:
    names = Pseudonyms(b"key")
    out = exported(names, "प्रिया शर्मा", "नमस्ते, मैं प्रिया शर्मा हूँ। शर्मा जी से बात करें")
    assert out == f"नमस्ते, मैं {names.name('प्रिया शर्मा')} हूँ। {names.name('शर्मा')} जी से बात करें"


@pytest.mark.parametrize(
    "written", ["عَلی رضایی", "علی رضایی", "عَلِی رِضایی"], ids=["fatha", "none", "fatha-kasra"]
)
def test_an_arabic_script_name_is_found_with_or_without_its_vowel_marks(written: str) -> None:
    """``عَلی`` with a harakat mark stayed in clear when the name was given without."""
    names = Pseudonyms(b"key")
    out = exported(names, "علی رضایی", f"سلام، من {written} هستم")
    assert out == f"سلام، من {names.name('علی رضایی')} هستم"


@pytest.mark.parametrize(
    ("name", "written"),
    [
        ("İlknur Şahin", "ILKNUR ŞAHİN"),
        ("İlknur Şahin", "ilknur şahin"),
        ("İlknur Şahin", "İLKNUR ŞAHİN"),
        ("ILKNUR ŞAHİN", "İlknur Şahin"),
        ("Işık Yılmaz", "IŞIK YILMAZ"),
        ("Işık Yılmaz", "ışık yılmaz"),
        ("IŞIK YILMAZ", "Işık Yılmaz"),
    ],
    ids=[
        "İ-upper",
        "İ-lower",
        "İ-dotted-upper",
        "upper-name",
        "ı-upper",
        "ı-lower",
        "ı-upper-name",
    ],
)
def test_a_turkish_name_is_found_in_upper_and_lower_case(name: str, written: str) -> None:
    """``ILKNUR ŞAHİN`` stayed in clear and ``ilknur şahin`` became ``ilknur Customer …``:
    case folding takes İ to i with a combining dot and keeps the dotless small i, so the
    two cases of a Turkish name never met."""
    names = Pseudonyms(b"key")
    out = exported(names, name, f"Merhaba, ben {written}. Siparişim gelmedi")
    assert out == f"Merhaba, ben {names.name(name)}. Siparişim gelmedi"
    assert names.name(name) == names.name(written)  # one person, one pseudonym


def test_latin_and_cyrillic_names_are_still_found_only_as_whole_words() -> None:
    """Substrings are for scripts written without spaces: ``Quimbyson`` is no Quimby and
    ``Петровский`` no Петров."""
    names = Pseudonyms(b"key")
    names.see(message("Иван Петров", "", i=2))
    out = exported(names, "Zebulon Quimby", "Quimbyson Ltd, ул. Петровский, Петров, Quimby")
    pseudonym = names.name("Quimby")
    assert out == f"Quimbyson Ltd, ул. Петровский, {names.name('Петров')}, {pseudonym}"
