"""Classroom mode's checks (``mlal_core.access``) and the workspace stores of ``mlal_core.paths``:
hand-written hostile names, right and wrong passwords, the throttle on a fake clock, and the model
folders the app offers."""

from __future__ import annotations

import hashlib
import json
import os
import stat
import unicodedata

import pytest

from mlal_core import access, paths
from mlal_core.access import AccessDenied, Classroom, Credential, LoginThrottle
from mlal_core.errors import ConfigError

CLASS_PW, TEACHER_PW = "correct horse battery", "teacher staple 42"
ANA_PP, BEN_PP = "ana's own phrase", "ben secret 7"


def _first(passphrase: str) -> dict[str, str]:
    """The passphrase fields of a first sign-in with a name (typed twice)."""
    return {"passphrase": passphrase, "repeat": passphrase}


class FakeClock:
    """A monotonic clock the test moves by hand."""

    def __init__(self) -> None:
        self.now = 1000.0

    def __call__(self) -> float:
        return self.now


@pytest.fixture(scope="module")
def room() -> Classroom:
    made = Classroom.from_passwords(CLASS_PW, TEACHER_PW)
    assert made is not None
    return made


# ---------------------------------------------------------------------------------------------- names
@pytest.mark.parametrize(("raw", "name", "key"), [
    ("Ana", "Ana", "ana"),
    ("  Ana   Li ", "Ana Li", "ana-li"),
    ("José", "José", "josé"),
    ("Jose\u0301", "José", "josé"),  # decomposed accent: the same name and workspace as the composed one
    ("o'Brien", "o'Brien", "o'brien"),
    ("ana.li_2-b", "ana.li_2-b", "ana.li_2-b"),
    ("Ωmega 7", "Ωmega 7", "ωmega-7"),
    ("x" * 32, "x" * 32, "x" * 32),
])
def test_valid_names_and_their_workspace(raw, name, key):
    assert access.participant_name(raw) == name
    assert access.workspace_key(raw) == key
    assert unicodedata.is_normalized("NFC", key)
    assert paths.workspace_dir(key).parent == paths.workspaces_dir()


@pytest.mark.parametrize(("raw", "says"), [
    ("../etc", "'/'"),  # the dots pass, the slash does not
    ("..", "no '..'"),
    ("a..b", "no '..'"),
    (".hidden", "starts with a letter"),
    ("ana/../../x", "'/'"),
    ("a\\b", "'\\\\'"),
    ("C:evil", "':'"),
    ("ana\x00", "U+0000"),
    ("\x1b[31mred", "U+001B"),
    ("a\tb", "U+0009"),
    ("a\nb", "U+000A"),
    ("ana\u202eeman", "U+202E"),  # right-to-left override
    ("", "Type your name"),
    ("     ", "Type your name"),
    ("x" * 33, "at most 32 characters; this one has 33"),
    ("<script>", "'<'"),
    ("ana*", "'*'"),
])
def test_hostile_names_are_refused_with_the_reason(raw, says):
    with pytest.raises(ConfigError) as err:
        access.participant_name(raw)
    assert says in str(err.value)
    assert len(str(err.value)) < 200
    with pytest.raises(ConfigError):
        access.workspace_key(raw)


def test_a_name_that_is_not_text_is_refused():
    with pytest.raises(ConfigError, match="must be text"):
        access.participant_name(None)


@pytest.mark.parametrize("bad", ["", ".", "..", "a/b", "a\\b", "../x", "a\x00b", os.sep + "abs"])
def test_a_workspace_is_one_folder_name(bad):
    with pytest.raises(ConfigError, match="one folder name"):
        paths.default_store_path(bad)


def test_workspace_stores_are_apart_from_the_default_store(mlal_home):
    assert paths.default_store_path() == mlal_home / "sessions.sqlite"
    assert paths.default_store_path("ana") == mlal_home / "workspaces" / "ana" / "sessions.sqlite"
    assert paths.default_store_path("ben") != paths.default_store_path("ana")


def test_list_workspaces_lists_valid_folders_only(mlal_home):
    assert access.list_workspaces() == []
    root = mlal_home / "workspaces"
    for name in ("ben", "ana", "Upper", ".hidden", "bad name"):
        (root / name).mkdir(parents=True)
    (root / "afile").write_text("x")
    assert access.list_workspaces() == ["ana", "ben"]


# ---------------------------------------------------------------------------------------------- passwords
def test_credential_keeps_a_salted_digest_only():
    a, b = Credential.from_password(CLASS_PW), Credential.from_password(CLASS_PW)
    assert a.matches(CLASS_PW) and b.matches(CLASS_PW)
    assert not a.matches(CLASS_PW + " ") and not a.matches("") and not a.matches(CLASS_PW.upper())
    assert a.salt != b.salt and a.digest != b.digest  # a fresh salt each time
    assert CLASS_PW.encode() not in a.digest + a.salt
    assert CLASS_PW not in repr(a) and repr(a) == "Credential(<hidden>)"


def test_roles(room):
    assert room.role_for(CLASS_PW) == access.PARTICIPANT
    assert room.role_for(TEACHER_PW) == access.TEACHER
    assert room.role_for("wrong password") is None
    no_teacher = Classroom.from_passwords(CLASS_PW)
    assert no_teacher is not None and no_teacher.role_for(TEACHER_PW) is None
    assert CLASS_PW not in repr(room) and TEACHER_PW not in repr(room)


def test_passwords_the_runner_sets_are_checked():
    assert Classroom.from_passwords(None) is None  # classroom mode off
    with pytest.raises(ConfigError, match="has 5 characters; classroom mode needs at least 8"):
        Classroom.from_passwords("short")
    with pytest.raises(ConfigError, match="teacher password has 3 characters"):
        Classroom.from_passwords(CLASS_PW, "abc")
    with pytest.raises(ConfigError, match="equals the class password"):
        Classroom.from_passwords(CLASS_PW, CLASS_PW)
    with pytest.raises(ConfigError, match="MLAL_CLASSROOM_PASSWORD is not"):
        Classroom.from_passwords(None, TEACHER_PW)


def test_where_the_passwords_come_from():
    env = {access.PASSWORD_ENV: "from-env-pw", access.TEACHER_PASSWORD_ENV: ""}
    secrets = {"classroom": {"password": "from-secrets", "teacher_password": "teacher-secret"}}
    assert access.classroom_passwords(env, secrets) == ("from-env-pw", "teacher-secret")  # the environment wins
    assert access.classroom_passwords({}, secrets) == ("from-secrets", "teacher-secret")
    assert access.classroom_passwords({}, {}) == (None, None)
    assert access.classroom_passwords({access.PASSWORD_ENV: ""}, None) == (None, None)  # empty: not set
    assert access.classroom_passwords({}, {"classroom": "not a table"}) == (None, None)


# ---------------------------------------------------------------------------------------------- throttling
def test_the_throttle_waits_longer_after_each_failure_past_the_free_ones():
    clock = FakeClock()
    throttle = LoginThrottle(free_attempts=3, base_delay_s=2.0, max_delay_s=10.0, forget_after_s=600, clock=clock)
    for _ in range(3):
        assert throttle.wait_s("ip:1") == 0
        throttle.failed("ip:1")
    assert throttle.wait_s("ip:1") == pytest.approx(2.0)  # 3 failures: wait 2 s after the last
    assert throttle.wait_s("ip:2") == 0  # another client is not held up
    clock.now += 1.5
    assert throttle.wait_s("ip:1") == pytest.approx(0.5)
    clock.now += 0.5
    assert throttle.wait_s("ip:1") == 0
    throttle.failed("ip:1")
    assert throttle.wait_s("ip:1") == pytest.approx(4.0)  # doubled
    throttle.failed("ip:1")
    assert throttle.wait_s("ip:1") == pytest.approx(8.0)
    throttle.failed("ip:1")
    assert throttle.wait_s("ip:1") == pytest.approx(10.0)  # capped
    clock.now += 600
    assert throttle.wait_s("ip:1") == 0  # forgotten after forget_after_s
    throttle.failed("ip:1")
    assert throttle.wait_s("ip:1") == 0  # counting starts again


def test_a_success_clears_the_count_and_memory_is_bounded():
    clock = FakeClock()
    throttle = LoginThrottle(free_attempts=1, base_delay_s=5.0, max_clients=3, clock=clock)
    throttle.failed("a")
    assert throttle.wait_s("a") == pytest.approx(5.0)
    throttle.succeeded("a")
    assert throttle.wait_s("a") == 0
    for client in ("b", "c", "d", "e"):
        throttle.failed(client)
    assert throttle.wait_s("b") == 0  # the oldest was dropped
    assert throttle.wait_s("e") == pytest.approx(5.0)


def test_sign_in(room, mlal_home):
    clock = FakeClock()
    throttle = LoginThrottle(free_attempts=2, base_delay_s=30.0, clock=clock)
    signed = access.sign_in(room, throttle, "c1", CLASS_PW, " Ana  Li ", **_first(ANA_PP))
    assert (signed.name, signed.role, signed.workspace) == ("Ana Li", access.PARTICIPANT, "ana-li")
    assert (mlal_home / "workspaces" / "ana-li").is_dir()
    assert not signed.is_teacher
    teacher = access.sign_in(room, throttle, "c1", TEACHER_PW, "Dr Who")
    assert teacher.is_teacher and teacher.workspace == "dr-who"
    # a right password with a bad name: refused for the name, not counted as a failed password
    for _ in range(3):
        with pytest.raises(ConfigError, match="'/'"):
            access.sign_in(room, throttle, "c2", CLASS_PW, "../../etc")
    assert throttle.wait_s("c2") == 0
    assert not (mlal_home / "etc").exists()
    # wrong passwords: counted; past the free ones even the right password must wait
    for _ in range(2):
        with pytest.raises(AccessDenied, match="Wrong password"):
            access.sign_in(room, throttle, "c3", "guess", "Eve")
    with pytest.raises(AccessDenied, match="wait 30 s"):
        access.sign_in(room, throttle, "c3", CLASS_PW, "Eve")
    clock.now += 29.6
    with pytest.raises(AccessDenied, match="wait 1 s"):  # rounded up: never "wait 0 s"
        access.sign_in(room, throttle, "c3", CLASS_PW, "Eve")
    clock.now += 0.4
    assert access.sign_in(room, throttle, "c3", CLASS_PW, "Eve", **_first("eve's phrase")).workspace == "eve"


def test_only_the_teacher_switches_workspace(room):
    throttle = LoginThrottle()
    ana = access.sign_in(room, throttle, "c", CLASS_PW, "Ana", **_first(ANA_PP))
    teacher = access.sign_in(room, throttle, "c", TEACHER_PW, "Teacher")
    with pytest.raises(AccessDenied, match="Only the teacher"):
        ana.switched_to("ben")
    assert ana.switched_to("ana") == ana
    seen = teacher.switched_to("ana")
    assert seen.workspace == "ana" and seen.name == "Teacher" and seen.own_workspace == "teacher"
    assert seen.switched_to("teacher").workspace == "teacher"
    for bad in ("../ana", "Ana", "a/b"):
        with pytest.raises(ConfigError):
            teacher.switched_to(bad)


# ---------------------------------------------------------------------------------------------- claims
def test_the_first_sign_in_claims_the_name_and_later_ones_need_its_passphrase(room, mlal_home):
    throttle = LoginThrottle()
    assert not access.is_claimed("ana")
    with pytest.raises(ConfigError, match="No one has signed in as 'Ana' yet: this sign-in claims the name"):
        access.sign_in(room, throttle, "c", CLASS_PW, "Ana", passphrase=ANA_PP)  # not typed twice
    assert not (mlal_home / "workspaces" / "ana").exists()  # nothing claimed, no folder made
    signed = access.sign_in(room, throttle, "c", CLASS_PW, "Ana", **_first(ANA_PP))
    assert signed.workspace == "ana" and access.is_claimed("ana")
    claim = mlal_home / "workspaces" / "ana" / access.CLAIM_FILE
    assert claim == access.claim_path("ana")
    # another participant (the class password, Ana's name, a guess): refused, whatever the repeat field says
    for guess in ("", "ben secret 7", ANA_PP.upper(), CLASS_PW):
        with pytest.raises(AccessDenied, match="Wrong passphrase for this name"):
            access.sign_in(room, throttle, "c2", CLASS_PW, "Ana", passphrase=guess, repeat=guess)
    with pytest.raises(AccessDenied, match="Wrong passphrase"):  # the same workspace by another spelling
        access.sign_in(room, throttle, "c2", CLASS_PW, "  ANA ", passphrase="whatever")
    assert access.sign_in(room, throttle, "c", CLASS_PW, "ana", passphrase=ANA_PP).workspace == "ana"
    # Ana's claim does not touch Ben's name
    assert access.sign_in(room, throttle, "c2", CLASS_PW, "Ben", **_first(BEN_PP)).workspace == "ben"
    # the teacher's password opens any name without a passphrase (and claims nothing)
    teacher = access.sign_in(room, throttle, "c3", TEACHER_PW, "Teacher")
    assert teacher.is_teacher and not access.is_claimed("teacher")


def test_the_claim_file_holds_a_salted_digest_only(room, mlal_home):
    access.sign_in(room, LoginThrottle(), "c", CLASS_PW, "Ana", **_first(ANA_PP))
    path = access.claim_path("ana")
    raw = path.read_bytes()
    for secret in (ANA_PP, CLASS_PW):
        assert secret.encode() not in raw and secret.encode().hex().encode() not in raw
    record = json.loads(raw)
    assert set(record) == {"version", "kdf", "iterations", "salt", "digest"}
    assert record["kdf"] == "pbkdf2-sha256" and record["iterations"] >= 100_000
    salt = bytes.fromhex(record["salt"])
    assert len(salt) == 16
    # the digest is PBKDF2-SHA256 of the passphrase with that salt, computed here by hand
    assert bytes.fromhex(record["digest"]) == hashlib.pbkdf2_hmac("sha256", ANA_PP.encode(), salt,
                                                                  record["iterations"])
    if os.name == "posix":
        assert stat.S_IMODE(path.stat().st_mode) == 0o600  # owner-only
    assert not [p for p in path.parent.iterdir() if p.name.endswith(".tmp")]  # no temporary file left
    # a second claim of a claimed name is refused and leaves the first claim as it was
    with pytest.raises(AccessDenied, match="claimed a moment ago"):
        access.claim_workspace(room, "ana", "thief's phrase", "thief's phrase")
    assert path.read_bytes() == raw
    assert not [p for p in path.parent.iterdir() if p.name.endswith(".tmp")]


@pytest.mark.parametrize(("passphrase", "repeat", "says"), [
    ("12345", "12345", "has 5 characters; choose one of at least 6"),
    ("", "x", "has 0 characters"),
    ("abcdef", "abcdeg", "The two passphrases differ"),
    (CLASS_PW, CLASS_PW, "is the class password"),
])
def test_a_new_passphrase_is_checked(room, mlal_home, passphrase, repeat, says):
    throttle = LoginThrottle()
    with pytest.raises(ConfigError, match=says):
        access.sign_in(room, throttle, "c", CLASS_PW, "Ana", passphrase=passphrase, repeat=repeat)
    assert not access.is_claimed("ana")
    assert throttle.wait_s("c") == 0  # a refused choice is not a failed attempt
    access.check_new_passphrase(room, "123456", "123456")  # six characters are enough


def test_wrong_passphrases_are_throttled_per_client_and_name(room, mlal_home):
    clock = FakeClock()
    throttle = LoginThrottle(free_attempts=2, base_delay_s=30.0, clock=clock)
    access.sign_in(room, throttle, "c0", CLASS_PW, "Ana", **_first(ANA_PP))
    access.sign_in(room, throttle, "c0", CLASS_PW, "Ben", **_first(BEN_PP))
    for _ in range(2):
        with pytest.raises(AccessDenied, match="Wrong passphrase"):
            access.sign_in(room, throttle, "eve", CLASS_PW, "Ana", passphrase="guess 123")
    with pytest.raises(AccessDenied, match="Too many wrong passphrases: wait 30 s"):
        access.sign_in(room, throttle, "eve", CLASS_PW, "Ana", passphrase=ANA_PP)  # even the right one, too soon
    assert access.sign_in(room, throttle, "ana-pc", CLASS_PW, "Ana", passphrase=ANA_PP).workspace == "ana"
    assert access.sign_in(room, throttle, "eve", CLASS_PW, "Ben", passphrase=BEN_PP).workspace == "ben"
    clock.now += 30
    assert access.sign_in(room, throttle, "eve", CLASS_PW, "Ana", passphrase=ANA_PP).workspace == "ana"


def test_the_teacher_resets_a_passphrase(room, mlal_home):
    throttle = LoginThrottle()
    ana = access.sign_in(room, throttle, "c", CLASS_PW, "Ana", **_first(ANA_PP))
    store = mlal_home / "workspaces" / "ana" / "sessions.sqlite"
    store.write_bytes(b"Ana's sessions")
    teacher = access.sign_in(room, throttle, "t", TEACHER_PW, "Teacher")
    with pytest.raises(AccessDenied, match="Only the teacher may reset"):
        access.reset_claim(ana, "ana")
    with pytest.raises(ConfigError, match="not a workspace name"):
        access.reset_claim(teacher, "Ana")  # a name, not its key
    with pytest.raises(ConfigError, match="'/'"):
        access.reset_claim(teacher, "../ana")
    assert access.is_claimed("ana")
    assert access.reset_claim(teacher, "ana") is True
    assert not access.is_claimed("ana") and store.read_bytes() == b"Ana's sessions"  # the sessions stay
    assert access.reset_claim(teacher, "ana") is False  # nothing left to reset
    with pytest.raises(ConfigError, match="claims the name"):  # the old passphrase is gone with the claim...
        access.sign_in(room, throttle, "c", CLASS_PW, "Ana", passphrase=ANA_PP)
    access.sign_in(room, throttle, "c", CLASS_PW, "Ana", **_first("a new phrase"))  # ...and a new one is set
    with pytest.raises(AccessDenied, match="Wrong passphrase"):
        access.sign_in(room, throttle, "c", CLASS_PW, "Ana", passphrase=ANA_PP)
    assert access.sign_in(room, throttle, "c", CLASS_PW, "Ana", passphrase="a new phrase").workspace == "ana"


def test_an_existing_workspace_without_a_claim_is_claimed_at_its_next_sign_in(room, mlal_home):
    old = mlal_home / "workspaces" / "ana"
    old.mkdir(parents=True)
    (old / "sessions.sqlite").write_bytes(b"kept")
    assert not access.is_claimed("ana")
    access.sign_in(room, LoginThrottle(), "c", CLASS_PW, "Ana", **_first(ANA_PP))
    assert access.is_claimed("ana") and (old / "sessions.sqlite").read_bytes() == b"kept"


@pytest.mark.parametrize("content", ["", "{", "[]", '{"kdf": "md5"}',
                                     '{"kdf": "pbkdf2-sha256", "iterations": 5, "salt": "00", "digest": "00"}'])
def test_a_damaged_claim_file_refuses_and_never_counts_as_unclaimed(room, mlal_home, content):
    access.sign_in(room, LoginThrottle(), "c", CLASS_PW, "Ana", **_first(ANA_PP))
    access.claim_path("ana").write_text(content)
    with pytest.raises(AccessDenied, match="ask the teacher to reset"):
        access.sign_in(room, LoginThrottle(), "c", CLASS_PW, "Ana", **_first("taking over"))


@pytest.mark.parametrize(("address", "loopback"), [
    ("localhost", True), ("LocalHost", True), ("127.0.0.1", True), ("127.1.2.3", True), ("::1", True),
    ("[::1]", True), ("0.0.0.0", False), ("::", False), ("192.168.1.20", False), ("", False), (None, False),
    ("localhost.evil.example", False), ("128.0.0.1", False),
])
def test_is_loopback(address, loopback):
    assert access.is_loopback(address) is loopback


# ---------------------------------------------------------------------------------------------- model folders
def test_model_folders_are_the_subfolders_of_mlal_home_models(mlal_home, tmp_path):
    assert access.model_folders() == []
    models = mlal_home / "models"
    assert models.is_dir()  # created on first use, so the README's "put it there" works at once
    for name in ("tok", "bert-mlm", ".cache"):
        (models / name).mkdir()
    (models / "notes.txt").write_text("not a model")
    elsewhere = tmp_path / "elsewhere-model"
    elsewhere.mkdir()
    (models / "linked").symlink_to(elsewhere)  # the person running the app may link one in
    assert access.model_folders() == [models / "bert-mlm", models / "linked", models / "tok"]
