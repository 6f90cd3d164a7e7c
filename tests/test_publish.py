"""The output folder holds only what is safe to publish.

A folder of raw footage named after a witness goes through ``anonymize DIR -o OUT`` with the
defaults: OUT then holds the safe copies and nothing else, and no byte of them carries the
witness's name, the SHA-256 of a raw file (which would prove which raw file a copy came
from) or the raw files' metadata. With ``--neutral-names`` not even the copies' names do.
The audit record that keeps all of that exists where the closing lines say it is.
"""

from __future__ import annotations

import hashlib
import json
import re
from pathlib import Path

import pytest
from click.testing import CliRunner
from clips import first_frames
from PIL import Image

from anonymize.cli import main
from anonymize.regions import load as load_regions

NAME = "Jane Witness-Doe"
PHOTO = f"IMG_0412 {NAME} safehouse.jpg"
CLIP = f"{NAME} interview.mp4"
# Metadata the raw files carry (besides the name): none of it may reach a safe copy.
SECRETS = ["ExampleCam", "Phone 12 Pro", "2024:05:17", "2024-05-17", "+48.8584", "48,51"]


def _photo(samples_dir: Path, path: Path) -> None:
    """The sample portrait (EXIF make, model, date, GPS and XMP) with the name in its
    description and author tags too."""
    with Image.open(samples_dir / "portrait.jpg") as image:
        exif = image.getexif()
        exif[0x010E] = f"{NAME} at the safehouse"  # ImageDescription
        exif[0x013B] = NAME  # Artist
        image.save(path, exif=exif.tobytes(), xmp=image.info.get("xmp", b""), quality=92)


def _clip(samples_dir: Path, path: Path) -> None:
    """The sample clip's first frames at half size, with the name as its title and comment
    and the sample's creation time and location."""
    tags = {
        "title": NAME,
        "comment": f"interview with {NAME}",
        "creation_time": "2024-05-17T09:30:00.000000Z",
        "location": "+48.8584+002.2945/",
    }
    first_frames(samples_dir / "street.mp4", path, 8, tags, {"handler_name": NAME})


@pytest.fixture(scope="module")
def raw(samples_dir: Path, tmp_path_factory: pytest.TempPathFactory) -> Path:
    folder = tmp_path_factory.mktemp("case") / "raw"
    folder.mkdir()
    _photo(samples_dir, folder / PHOTO)
    _clip(samples_dir, folder / CLIP)
    return folder


def _forbidden(raw: Path) -> list[bytes]:
    """Byte strings that must not occur in a published file."""
    found = []
    for text in (NAME, "Witness-Doe", *SECRETS):
        found += [text.encode("utf-8"), text.encode("utf-16-le"), text.encode("utf-16-be")]
    for path in (p for p in raw.iterdir() if p.is_file()):
        digest = hashlib.sha256(path.read_bytes())
        hex_digest = digest.hexdigest()
        found += [hex_digest.encode(), hex_digest.upper().encode(), digest.digest()]
    return found


def _run(*args: str):
    return CliRunner().invoke(main, [*args, "--quiet"], catch_exceptions=False)


def _audit_folder(stderr: str) -> Path:
    [line] = re.findall(r"^audit records: (.*)$", stderr, re.MULTILINE)
    return Path(line)


def _check_published(out: Path, raw: Path) -> list[str]:
    """Every file in ``out`` is a safe copy free of the forbidden bytes; their names."""
    files = sorted(p for p in out.rglob("*") if p.is_file())
    for path in files:
        data = path.read_bytes()
        for forbidden in _forbidden(raw):
            assert forbidden not in data, (path.name, forbidden[:40])
    return [p.relative_to(out).as_posix() for p in files]


def test_the_output_folder_holds_only_the_safe_copies(raw, tmp_path):
    out = tmp_path / "out"
    result = _run(str(raw), "-o", str(out))
    assert result.exit_code == 0, result.stderr

    assert _check_published(out, raw) == sorted([PHOTO, CLIP])  # names the user kept
    audit = _audit_folder(result.stderr)
    assert audit == raw.parent / "anonymize-audit"  # beside the inputs, not among outputs
    for name in (PHOTO, CLIP):
        record = load_regions(audit / f"{name}.json")
        assert record.input.name == name
        assert record.input.sha256 == hashlib.sha256((raw / name).read_bytes()).hexdigest()
        assert record.output.sha256 == hashlib.sha256((out / name).read_bytes()).hexdigest()


def test_neutral_names_leave_not_even_the_name_of_a_copy(raw, tmp_path):
    out = tmp_path / "out"
    audit = tmp_path / "custody"
    args = [str(raw), "-o", str(out), "--neutral-names", "--audit", str(audit), "--json"]
    result = _run(*args)
    assert result.exit_code == 0, result.stderr

    names = _check_published(out, raw)
    assert len(names) == 2
    for name in names:  # a hash and the input's kind, nothing of the input's name
        assert re.fullmatch(r"[0-9a-f]{16}\.(jpg|mp4)", name), name
    summary = json.loads(result.stdout)
    assert Path(summary["audit"]) == audit
    mapping = {Path(f["output"]).name: Path(f["input"]).name for f in summary["files"]}
    for output, source in mapping.items():  # only the audit record says which is which
        assert load_regions(audit / f"{output}.json").input.name == source
    assert sorted(mapping.values()) == sorted([PHOTO, CLIP])

    again = json.loads(_run(*args).stdout)  # the same names next time: a re-run resumes
    assert (again["done"], again["skipped"]) == (0, 2)


def test_an_audit_folder_inside_the_output_folder_is_refused(raw, tmp_path):
    out = tmp_path / "out"
    result = _run(str(raw), "-o", str(out), "--audit", str(out / "records"))
    assert result.exit_code == 2 and "inside the output folder" in result.stderr
    assert not out.exists()


def test_a_sidecar_beside_the_output_is_an_opt_in_that_warns(samples_dir, tmp_path):
    photo = tmp_path / "p.jpg"
    photo.write_bytes((samples_dir / "portrait.jpg").read_bytes())
    result = _run(str(photo), "-o", str(tmp_path / "out" / "p.jpg"), "--sidecar")
    assert result.exit_code == 0, result.stderr
    assert "warning: --sidecar" in result.stderr
    assert load_regions(tmp_path / "out" / "p.jpg.json").input.name == "p.jpg"
    assert not (tmp_path / "anonymize-audit").exists()
    refused = _run(str(photo), "--sidecar", "--neutral-names")
    assert refused.exit_code == 2


def test_render_writes_its_record_in_the_audit_folder_too(samples_dir, tmp_path):
    raw = tmp_path / "raw"
    raw.mkdir()
    photo = raw / PHOTO
    _photo(samples_dir, photo)
    assert _run("detect", str(photo), "--targets", "faces").exit_code == 0
    out = tmp_path / "publish" / "safe.jpg"
    regions = raw / f"{PHOTO}.regions.json"
    result = _run(
        "render", str(photo), "--regions", str(regions), "-o", str(out), "--mode", "solid"
    )
    assert result.exit_code == 0, result.stderr
    assert _check_published(out.parent, raw) == ["safe.jpg"]
    record = raw / "anonymize-audit" / "safe.jpg.json"
    assert f"audit record: {record}" in result.stderr
    assert load_regions(record).input.name == PHOTO
    assert load_regions(record).settings["mode"] == "solid"  # how it was drawn, not found
    assert load_regions(regions).settings["mode"] == "blur"  # the regions file is unchanged


def test_when_the_audit_folder_cannot_be_made_the_run_asks_for_one_first(samples_dir, tmp_path):
    """Raw footage may sit on a read-only card: the run says so before any work, not after
    each file (here a file already holds the audit folder's name)."""
    raw = tmp_path / "card"
    raw.mkdir()
    (raw / "p.jpg").write_bytes((samples_dir / "portrait.jpg").read_bytes())
    (tmp_path / "anonymize-audit").write_text("in the way")
    for extra in ([], ["--neutral-names"]):
        refused = _run(str(raw), "-o", str(tmp_path / "out"), *extra)
        assert refused.exit_code == 2 and "--audit DIR" in refused.stderr
        assert "Traceback" not in refused.output
        assert not (tmp_path / "out").exists()


def test_outputs_of_one_name_in_two_folders_keep_a_record_each(samples_dir, tmp_path):
    """The same photo published twice, blurred and as solid boxes, into two folders: each
    safe copy keeps its own audit record, and a re-run replaces only its own."""
    photo = tmp_path / "p.jpg"
    photo.write_bytes((samples_dir / "portrait.jpg").read_bytes())
    audit = tmp_path / "anonymize-audit"
    a, b = tmp_path / "a" / "p.jpg", tmp_path / "b" / "p.jpg"
    assert _run(str(photo), "-o", str(a), "--targets", "faces").exit_code == 0
    result = _run(str(photo), "-o", str(b), "--targets", "faces", "--mode", "solid")
    assert result.exit_code == 0, result.stderr
    again = _run(str(photo), "-o", str(a), "--targets", "faces", "--overwrite")
    assert again.exit_code == 0, again.stderr
    records = sorted(p.name for p in audit.iterdir() if not p.name.startswith("."))
    assert records == ["p.jpg.2.json", "p.jpg.json"]
    for output, record in ((a, "p.jpg.json"), (b, "p.jpg.2.json")):
        described = load_regions(audit / record).output
        assert described.sha256 == hashlib.sha256(output.read_bytes()).hexdigest()
    assert load_regions(audit / "p.jpg.2.json").settings["mode"] == "solid"


def test_neutral_names_of_two_inputs_of_one_name_differ_and_hold_however_named(
    samples_dir, tmp_path, monkeypatch
):
    """Two raw photos both called p.jpg each get a safe copy (one used to be skipped as
    already done), and naming the folder another way resumes rather than redoes."""
    for folder in ("a", "b"):
        (tmp_path / "raw" / folder).mkdir(parents=True)
        _photo(samples_dir, tmp_path / "raw" / folder / "p.jpg")
    out, audit = tmp_path / "out", tmp_path / "custody"
    common = ["-o", str(out), "--neutral-names", "--audit", str(audit), "--targets", "faces"]
    for folder in ("a", "b"):
        result = _run(str(tmp_path / "raw" / folder / "p.jpg"), *common)
        assert result.exit_code == 0 and "1 anonymized" in result.stderr, result.stderr
    assert len(list(out.iterdir())) == 2
    monkeypatch.chdir(tmp_path / "raw")
    again = _run(".", *common)
    assert again.exit_code == 0 and "0 anonymized, 2 skipped" in again.stderr, again.stderr
