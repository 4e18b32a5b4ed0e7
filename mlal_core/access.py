"""Classroom mode: who may use a workbench served on the network, and where each one's work is kept.

The person who runs the app turns it on by setting a class password, in the environment
(``MLAL_CLASSROOM_PASSWORD``) or in ``.streamlit/secrets.toml``::

    [classroom]
    password = "a long class password"
    teacher_password = "another one, for the teacher"   # optional

(the environment wins). Every participant then signs in with the class password and a name; the
name picks a private **workspace**, ``MLAL_HOME/workspaces/<key>/`` (:func:`workspace_key`), with a
session store of its own. The first sign-in with a new name **claims** it: the participant sets a
personal passphrase (:func:`claim_workspace`), kept as a salted digest in the workspace's
``passphrase.json``; every later sign-in with that name needs it, so knowing the class password and
another participant's name is not enough to enter their workspace. Whoever signs in with the teacher
password may also switch into any participant's workspace, and reset its passphrase
(:func:`reset_claim`: the next sign-in with that name claims it again). The app keeps the signed-in :class:`Access` in the browser session's state,
never in a process-wide variable: one server process serves every participant.

Passwords and passphrases are kept only as salted PBKDF2 digests (:class:`Credential`) and compared with
``hmac.compare_digest``; :class:`LoginThrottle` makes each client wait longer after every failed
attempt past the first few. The model folders the app offers (ALPS's masked LM, Subword's tokenizer)
are the sub-folders of ``MLAL_HOME/models`` (:func:`model_folders`): no path typed by a participant
reaches the server's file system.
"""

from __future__ import annotations

import hashlib
import hmac
import json
import math
import os
import secrets as _secrets
import tempfile
import threading
import time
import unicodedata
from collections import OrderedDict
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from . import paths
from .errors import ConfigError, MLALError

PASSWORD_ENV = "MLAL_CLASSROOM_PASSWORD"
TEACHER_PASSWORD_ENV = "MLAL_CLASSROOM_TEACHER_PASSWORD"
#: the table of ``.streamlit/secrets.toml`` that may hold ``password`` and ``teacher_password``
SECRETS_SECTION = "classroom"
MIN_PASSWORD_LENGTH = 8
MIN_PASSPHRASE_LENGTH = 6
#: the file in a workspace folder that holds the digest of its participant's passphrase (the claim)
CLAIM_FILE = "passphrase.json"
MAX_NAME_LENGTH = 32
#: what a name may hold besides letters and digits (of any script)
NAME_PUNCTUATION = " -_.'"
PARTICIPANT, TEACHER = "participant", "teacher"
_PBKDF2_ITERATIONS = 100_000


class AccessDenied(MLALError):
    """A sign-in refused: a wrong password, or too many failed attempts (the message says how long to wait)."""


def participant_name(raw: Any) -> str:
    """A participant's name, checked: what the app shows and what :func:`workspace_key` is made from.

    Parameters
    ----------
    raw : str
        What the participant typed; spaces around it are dropped, runs of spaces become one, and
        the text is put in Unicode NFC form.

    Returns
    -------
    str
        The name (1 to :data:`MAX_NAME_LENGTH` characters of letters, digits, spaces and ``-_.'``,
        starting with a letter or digit).

    Raises
    ------
    ConfigError
        When the name is empty, too long, or holds anything else (a ``/``, ``\\``, a NUL, a control
        character or terminal escape, ``..``); the message names the first offending character.
    """
    if not isinstance(raw, str):
        raise ConfigError(f"A name must be text; got {type(raw).__name__}.")
    name = " ".join(part for part in unicodedata.normalize("NFC", raw).split(" ") if part)
    if not name:
        raise ConfigError("Type your name (letters, digits, spaces and - _ . ' only).")
    if len(name) > MAX_NAME_LENGTH:
        raise ConfigError(f"A name has at most {MAX_NAME_LENGTH} characters; this one has {len(name)}. "
                          "Use a shorter form (e.g. first name and initial).")
    bad = next((c for c in name if not (c.isalnum() or c in NAME_PUNCTUATION)), None)
    if bad is not None:
        shown = repr(bad) if bad.isprintable() else f"U+{ord(bad):04X}"
        raise ConfigError(f"A name may hold letters, digits, spaces and - _ . ' only; it holds {shown}.")
    if not name[0].isalnum() or ".." in name:
        raise ConfigError("A name starts with a letter or a digit and has no '..'.")
    return name


def workspace_key(name: str) -> str:
    """The folder name of a participant's workspace: the checked name, case-folded, spaces as ``-``.

    ``"Ana Li"`` and ``"ana li"`` share a workspace (they would collide on a case-insensitive disk).

    Parameters
    ----------
    name : str
        A name (checked with :func:`participant_name` first).

    Returns
    -------
    str
        One safe path component, e.g. ``"ana-li"``.

    Raises
    ------
    ConfigError
        When ``name`` is not a valid participant name.
    """
    key = unicodedata.normalize("NFC", participant_name(name).casefold()).replace(" ", "-")
    paths.workspace_dir(key)  # one path component, or ConfigError
    return key


def list_workspaces() -> list[str]:
    """The workspaces that exist (folder names under ``MLAL_HOME/workspaces``), sorted.

    Returns
    -------
    list of str
        Every sub-folder whose name is a valid workspace key (anything else there is left out).
    """
    root = paths.workspaces_dir()
    if not root.is_dir():
        return []
    out = []
    for entry in root.iterdir():
        try:
            ok = entry.is_dir() and workspace_key(entry.name) == entry.name
        except ConfigError:
            ok = False
        if ok:
            out.append(entry.name)
    return sorted(out)


# ---------------------------------------------------------------------------------------------- passwords
@dataclass(frozen=True, repr=False)
class Credential:
    """A password kept as a salted PBKDF2-SHA256 digest (the password itself is not kept)."""

    salt: bytes
    digest: bytes
    iterations: int = _PBKDF2_ITERATIONS

    @classmethod
    def from_password(cls, password: str) -> Credential:
        """Digest ``password`` with a fresh random salt.

        Parameters
        ----------
        password : str
            The password.

        Returns
        -------
        Credential
            Its salt and digest.
        """
        salt = _secrets.token_bytes(16)
        return cls(salt, _digest(password, salt))

    def matches(self, password: str) -> bool:
        """Whether ``password`` is the one digested (constant-time comparison of the digests).

        Parameters
        ----------
        password : str
            The password to check.

        Returns
        -------
        bool
            True when it is the password.
        """
        return hmac.compare_digest(_digest(password, self.salt, self.iterations), self.digest)

    def to_record(self) -> dict[str, Any]:
        """The digest as JSON-ready fields (what :meth:`from_record` reads back; no password in it).

        Returns
        -------
        dict
            ``kdf``, ``iterations``, and ``salt`` and ``digest`` in hexadecimal.
        """
        return {"kdf": "pbkdf2-sha256", "iterations": self.iterations, "salt": self.salt.hex(),
                "digest": self.digest.hex()}

    @classmethod
    def from_record(cls, record: Any) -> Credential:
        """The credential :meth:`to_record` wrote.

        Parameters
        ----------
        record : dict
            The fields.

        Returns
        -------
        Credential
            The salt, digest and iteration count.

        Raises
        ------
        ValueError
            When a field is missing or not of the expected form.
        """
        if not isinstance(record, dict) or record.get("kdf") != "pbkdf2-sha256":
            raise ValueError("not a pbkdf2-sha256 credential")
        iterations = record.get("iterations")
        if not isinstance(iterations, int) or not 1_000 <= iterations <= 10_000_000:
            raise ValueError(f"iterations {iterations!r} out of range")
        salt, digest = bytes.fromhex(str(record["salt"])), bytes.fromhex(str(record["digest"]))
        if len(salt) < 16 or len(digest) != 32:
            raise ValueError("salt or digest of the wrong length")
        return cls(salt, digest, iterations)

    def __repr__(self) -> str:
        return "Credential(<hidden>)"


def _digest(password: str, salt: bytes, iterations: int = _PBKDF2_ITERATIONS) -> bytes:
    return hashlib.pbkdf2_hmac("sha256", str(password).encode("utf-8"), salt, iterations)


def classroom_passwords(environ: Mapping[str, str] | None = None,
                        secrets: Mapping[str, Any] | None = None) -> tuple[str | None, str | None]:
    """The class and teacher passwords as set by the person who runs the app (environment first,
    then the ``[classroom]`` table of the secrets).

    Parameters
    ----------
    environ : mapping, optional
        The environment; default ``os.environ``.
    secrets : mapping, optional
        The app's secrets (``st.secrets``): a ``classroom`` table with ``password`` and
        ``teacher_password``.

    Returns
    -------
    tuple of (str or None, str or None)
        ``(password, teacher_password)``; None where not set (an empty value counts as not set).
    """
    env = os.environ if environ is None else environ
    table = (secrets or {}).get(SECRETS_SECTION) or {}
    table = table if isinstance(table, Mapping) else {}

    def pick(env_key: str, secret_key: str) -> str | None:
        value = env.get(env_key) or table.get(secret_key)
        return str(value) if value else None

    return pick(PASSWORD_ENV, "password"), pick(TEACHER_PASSWORD_ENV, "teacher_password")


@dataclass(frozen=True)
class Classroom:
    """Classroom mode is on: the class password, and the teacher's (None: no teacher role)."""

    participant: Credential
    teacher: Credential | None = None

    @classmethod
    def from_passwords(cls, password: str | None, teacher_password: str | None = None) -> Classroom | None:
        """Classroom mode for these passwords (see :func:`classroom_passwords`), or None when off.

        Parameters
        ----------
        password : str or None
            The class password; None: classroom mode is off.
        teacher_password : str or None
            The teacher's password; None: nobody may switch workspaces.

        Returns
        -------
        Classroom or None
            The digested passwords, or None when ``password`` is None.

        Raises
        ------
        ConfigError
            When a password is shorter than :data:`MIN_PASSWORD_LENGTH`, or the teacher password is
            set without a class password or equals it.
        """
        if password is None:
            if teacher_password is not None:
                raise ConfigError(f"{TEACHER_PASSWORD_ENV} is set but {PASSWORD_ENV} is not: set the class "
                                  "password too (classroom mode needs both to let the teacher in).")
            return None
        for what, value in (("class", password), ("teacher", teacher_password)):
            if value is not None and len(value) < MIN_PASSWORD_LENGTH:
                raise ConfigError(f"The {what} password has {len(value)} characters; classroom mode needs at "
                                  f"least {MIN_PASSWORD_LENGTH}. Set a longer one and restart the app.")
        if teacher_password is not None and hmac.compare_digest(password.encode(), teacher_password.encode()):
            raise ConfigError("The teacher password equals the class password; set a different one.")
        teacher = None if teacher_password is None else Credential.from_password(teacher_password)
        return cls(Credential.from_password(password), teacher)

    def role_for(self, password: str) -> str | None:
        """The role ``password`` signs in as.

        Parameters
        ----------
        password : str
            What was typed.

        Returns
        -------
        str or None
            :data:`TEACHER`, :data:`PARTICIPANT`, or None for a wrong password. Both digests are
            always computed, so the time taken does not tell which one was tried.
        """
        is_teacher = self.teacher is not None and self.teacher.matches(password)
        is_participant = self.participant.matches(password)
        return TEACHER if is_teacher else PARTICIPANT if is_participant else None


# ---------------------------------------------------------------------------------------------- throttling
@dataclass(kw_only=True)
class LoginThrottle:
    """Failed sign-ins per client: after ``free_attempts`` failures each further attempt must wait
    ``base_delay_s * 2 ** (failures - free_attempts)`` seconds (at most ``max_delay_s``) after the
    last failure. A client's count is forgotten ``forget_after_s`` after its last failure, or on a
    success; at most ``max_clients`` are remembered (the oldest dropped). Safe to share between the
    script threads of one server process.
    """

    free_attempts: int = 5
    base_delay_s: float = 1.0
    max_delay_s: float = 60.0
    forget_after_s: float = 900.0
    max_clients: int = 10_000
    clock: Callable[[], float] = time.monotonic
    _failures: OrderedDict[str, tuple[int, float]] = field(default_factory=OrderedDict, repr=False)
    _lock: threading.Lock = field(default_factory=threading.Lock, repr=False)

    def wait_s(self, client: str) -> float:
        """Seconds ``client`` must still wait before its next attempt (0: it may try now).

        Parameters
        ----------
        client : str
            Who is signing in (an IP address, else the browser session).

        Returns
        -------
        float
            The time left, 0 when none.
        """
        with self._lock:
            count, last = self._failures.get(client, (0, 0.0))
            now = self.clock()
            if count and now - last >= self.forget_after_s:
                self._failures.pop(client, None)
                return 0.0
        if count < self.free_attempts:
            return 0.0
        delay = min(self.max_delay_s, self.base_delay_s * 2 ** (count - self.free_attempts))
        return max(0.0, last + delay - now)

    def failed(self, client: str) -> None:
        """Count one failed attempt of ``client``.

        Parameters
        ----------
        client : str
            Who failed.
        """
        with self._lock:
            count, last = self._failures.pop(client, (0, 0.0))
            now = self.clock()
            count = 0 if count and now - last >= self.forget_after_s else count
            self._failures[client] = (count + 1, now)
            while len(self._failures) > self.max_clients:
                self._failures.popitem(last=False)

    def succeeded(self, client: str) -> None:
        """Forget ``client``'s failures.

        Parameters
        ----------
        client : str
            Who signed in.
        """
        with self._lock:
            self._failures.pop(client, None)


# ---------------------------------------------------------------------------------------------- signing in
@dataclass(frozen=True)
class Access:
    """Who signed in: their ``name``, ``role`` and the ``workspace`` they work in now."""

    name: str
    role: str
    workspace: str

    @property
    def own_workspace(self) -> str:
        """The workspace of the signed-in name."""
        return workspace_key(self.name)

    @property
    def is_teacher(self) -> bool:
        """True for the teacher role (may switch into any workspace)."""
        return self.role == TEACHER

    def switched_to(self, workspace: str) -> Access:
        """The same person working in ``workspace`` (the teacher's right only).

        Parameters
        ----------
        workspace : str
            A workspace key (from :func:`list_workspaces`, or the teacher's own).

        Returns
        -------
        Access
            A copy with ``workspace`` changed.

        Raises
        ------
        AccessDenied
            When a participant tries another workspace than their own.
        ConfigError
            When ``workspace`` is not a valid workspace key.
        """
        if workspace_key(workspace) != workspace:
            raise ConfigError(f"{workspace!r} is not a workspace name.")
        if not self.is_teacher and workspace != self.own_workspace:
            raise AccessDenied("Only the teacher may open another participant's workspace.")
        return Access(self.name, self.role, workspace)


# ---------------------------------------------------------------------------------------------- claims
def claim_path(workspace: str) -> Path:
    """The claim file of a workspace: ``MLAL_HOME/workspaces/<workspace>/passphrase.json``.

    Parameters
    ----------
    workspace : str
        A workspace key (:func:`workspace_key`).

    Returns
    -------
    Path
        The file (it exists once the workspace is claimed).

    Raises
    ------
    ConfigError
        When ``workspace`` is not one folder name.
    """
    return paths.workspace_dir(workspace) / CLAIM_FILE


def is_claimed(workspace: str) -> bool:
    """Whether a participant set the passphrase of ``workspace`` (its claim file exists).

    Parameters
    ----------
    workspace : str
        A workspace key.

    Returns
    -------
    bool
        True when a later sign-in with its name needs the passphrase.
    """
    return claim_path(workspace).is_file()


def _claim_credential(workspace: str) -> Credential:
    """The digest in ``workspace``'s claim file; a damaged one refuses (never counts as unclaimed)."""
    path = claim_path(workspace)
    try:
        return Credential.from_record(json.loads(path.read_text(encoding="utf-8")))
    except (OSError, ValueError, KeyError) as e:
        raise AccessDenied(f"The passphrase file of workspace {workspace!r} cannot be read ({type(e).__name__}); "
                         "ask the teacher to reset this name's passphrase.") from e


def check_new_passphrase(classroom: Classroom, passphrase: str, repeat: str) -> None:
    """Check a passphrase a participant chose for their name.

    Parameters
    ----------
    classroom : Classroom
        The class password (a passphrase may not equal it).
    passphrase, repeat : str
        The passphrase, typed twice.

    Raises
    ------
    ConfigError
        When it has fewer than :data:`MIN_PASSPHRASE_LENGTH` characters, the two differ, or it is
        the class password (which every participant knows).
    """
    if len(passphrase) < MIN_PASSPHRASE_LENGTH:
        raise ConfigError(f"Your passphrase has {len(passphrase)} characters; choose one of at least "
                          f"{MIN_PASSPHRASE_LENGTH}.")
    if not hmac.compare_digest(passphrase.encode("utf-8"), repeat.encode("utf-8")):
        raise ConfigError("The two passphrases differ: type the same passphrase in both fields.")
    if classroom.participant.matches(passphrase):
        raise ConfigError("Your passphrase is the class password, which every participant knows; choose another.")


def claim_workspace(classroom: Classroom, workspace: str, passphrase: str, repeat: str) -> Path:
    """Claim ``workspace`` for whoever set ``passphrase``: its salted digest is written to the claim
    file (owner-only permissions, written whole to a temporary file and then linked into place, so no
    reader sees half a file and two first sign-ins at once cannot both claim the name).

    Parameters
    ----------
    classroom : Classroom
        The class password (:func:`check_new_passphrase`).
    workspace : str
        A workspace key; its folder is created.
    passphrase, repeat : str
        The passphrase, typed twice.

    Returns
    -------
    Path
        The claim file.

    Raises
    ------
    ConfigError
        When the passphrase is refused (:func:`check_new_passphrase`).
    AccessDenied
        When the workspace is claimed already.
    """
    check_new_passphrase(classroom, passphrase, repeat)
    path = claim_path(workspace)
    path.parent.mkdir(parents=True, exist_ok=True)
    payload = json.dumps({"version": 1, **Credential.from_password(passphrase).to_record()}).encode("utf-8")
    fd, tmp = tempfile.mkstemp(prefix=f".{CLAIM_FILE}.", suffix=".tmp", dir=path.parent)  # mode 0o600
    try:
        with os.fdopen(fd, "wb") as fh:
            fh.write(payload)
            fh.flush()
            os.fsync(fh.fileno())
        os.link(tmp, path)  # atomic, and never replaces a claim made meanwhile
    except FileExistsError:
        raise AccessDenied(f"The name for workspace {workspace!r} was claimed a moment ago; sign in with its "
                           "passphrase, or choose another name.") from None
    finally:
        os.unlink(tmp)
    return path


def reset_claim(signed: Access, workspace: str) -> bool:
    """Remove the passphrase of ``workspace`` (the teacher's right only): the next sign-in with its
    name claims it again. Its sessions stay.

    Parameters
    ----------
    signed : Access
        Who asks (must be the teacher).
    workspace : str
        A workspace key.

    Returns
    -------
    bool
        True when a passphrase was removed, False when the workspace had none.

    Raises
    ------
    AccessDenied
        When ``signed`` is not the teacher.
    ConfigError
        When ``workspace`` is not a workspace key.
    """
    if not signed.is_teacher:
        raise AccessDenied("Only the teacher may reset a participant's passphrase.")
    if workspace_key(workspace) != workspace:
        raise ConfigError(f"{workspace!r} is not a workspace name.")
    try:
        claim_path(workspace).unlink()
    except FileNotFoundError:
        return False
    return True


def _passphrase_key(client: str, workspace: str) -> str:
    """The throttle's key for passphrase attempts: one client on one name."""
    return f"{client}\0name:{workspace}"


def _check_passphrase(throttle: LoginThrottle, client: str, workspace: str, passphrase: str) -> None:
    key = _passphrase_key(client, workspace)
    wait = throttle.wait_s(key)
    if wait > 0:
        raise AccessDenied(f"Too many wrong passphrases: wait {math.ceil(wait)} s before trying again.")
    if not _claim_credential(workspace).matches(passphrase):
        throttle.failed(key)
        raise AccessDenied("Wrong passphrase for this name. If it is your name and you forgot the passphrase, "
                           "ask the teacher to reset it.")
    throttle.succeeded(key)


def sign_in(classroom: Classroom, throttle: LoginThrottle, client: str, password: str, name: str, *,
            passphrase: str = "", repeat: str = "") -> Access:
    """Check a sign-in: the throttle first, then the password, then the name, then (participants
    only) the name's passphrase: the first sign-in with a name claims it (:func:`claim_workspace`),
    later ones must give that passphrase.

    Parameters
    ----------
    classroom : Classroom
        The passwords.
    throttle : LoginThrottle
        The failed attempts so far (a failure is counted here: a wrong class password per client, a
        wrong passphrase per client and name).
    client : str
        Who signs in (for the throttle).
    password : str
        The password typed.
    name : str
        The name typed (:func:`participant_name`).
    passphrase : str
        The participant's personal passphrase (the teacher needs none).
    repeat : str
        The passphrase typed again: needed on the first sign-in with a name only.

    Returns
    -------
    Access
        The name, the role, and the name's own workspace (its folder is created).

    Raises
    ------
    AccessDenied
        When the client must wait, the password or passphrase is wrong (the failure is counted), the
        name was claimed by someone else a moment ago, or its passphrase file is damaged (the teacher
        can reset it).
    ConfigError
        When the password is right but the name is not valid, or a new passphrase is refused (not
        counted as a failure).
    """
    wait = throttle.wait_s(client)
    if wait > 0:
        raise AccessDenied(f"Too many wrong passwords: wait {math.ceil(wait)} s before trying again.")
    role = classroom.role_for(password)
    if role is None:
        throttle.failed(client)
        raise AccessDenied("Wrong password. Ask the person who runs the workbench for the class password.")
    checked = participant_name(name)
    throttle.succeeded(client)
    access = Access(checked, role, workspace_key(checked))
    if role == PARTICIPANT and is_claimed(access.workspace):
        _check_passphrase(throttle, client, access.workspace, passphrase)
    elif role == PARTICIPANT:
        if not repeat:
            raise ConfigError(f"No one has signed in as {checked!r} yet: this sign-in claims the name. Choose a "
                              f"passphrase (at least {MIN_PASSPHRASE_LENGTH} characters) and type it in both "
                              "passphrase fields; you will need it every time you sign in.")
        claim_workspace(classroom, access.workspace, passphrase, repeat)
    paths.workspace_dir(access.workspace).mkdir(parents=True, exist_ok=True)
    return access


def is_loopback(address: str | None) -> bool:
    """Whether a server address reaches this machine only (``localhost``, ``127.x.y.z``, ``::1``).

    Parameters
    ----------
    address : str or None
        Streamlit's ``server.address``; None or empty: not set (then Streamlit listens on every
        interface, but the shipped ``.streamlit/config.toml`` sets ``localhost``).

    Returns
    -------
    bool
        True for a loopback address; False for ``0.0.0.0``, ``::``, any other address, and an
        unset one.
    """
    text = (address or "").strip().lower().strip("[]")
    return text == "localhost" or text == "::1" or text.startswith("127.")


# ---------------------------------------------------------------------------------------------- model folders
def model_folders() -> list[Path]:
    """The model folders the app offers: the sub-folders of ``MLAL_HOME/models`` (hidden ones left
    out), sorted by name. A symbolic link placed there by the person running the app counts.

    Returns
    -------
    list of Path
        Their paths (``paths.models_dir() / name``).
    """
    root = paths.models_dir()
    return sorted((p for p in root.iterdir() if p.is_dir() and not p.name.startswith(".")), key=lambda p: p.name)

