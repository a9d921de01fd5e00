"""The deskbot command as a user runs it: from an empty directory, piped, and as a server."""

from __future__ import annotations

import json
import os
import socket
import subprocess
import sys
import time
import urllib.request
from pathlib import Path

import pytest

DESKBOT = [sys.executable, "-m", "bot"]


def run(
    args: list[str], cwd: Path, stdin: str = "", timeout: float = 120, **env: str
) -> subprocess.CompletedProcess[str]:
    environment = {k: v for k, v in os.environ.items() if not k.startswith("DESKBOT_")}
    environment.pop("DATABASE_URL", None)
    environment.update(env)
    return subprocess.run(
        DESKBOT + args,
        cwd=cwd,
        input=stdin,
        capture_output=True,
        text=True,
        timeout=timeout,
        env=environment,
    )


def test_shell_from_an_empty_directory_answers_each_piped_line(tmp_path: Path) -> None:
    result = run(["shell"], tmp_path, "hello\nhow do I reset my password?\n我的文件不同步\n")
    assert result.returncode == 0, result.stderr
    lines = result.stdout.strip().splitlines()
    assert len(lines) == 3
    assert lines[0].startswith("Hi!")
    assert "Forgot password" in lines[1]
    assert "同步" in lines[2]
    assert (tmp_path / "var" / "deskbot.db").is_file()


def test_shell_reports_an_escalation(tmp_path: Path) -> None:
    result = run(["shell"], tmp_path, "I want to talk to a human\nare you there?\n")
    assert result.returncode == 0, result.stderr
    assert "passing you to a person" in result.stdout
    assert "[handed to a person: customer asked for a person." in result.stdout
    assert "goes back to the bot" in result.stdout
    # ...so the next line is the bot's again, not a queued chat's
    assert result.stdout.count("passing you to a person") == 1
    queued = run(["shell"], tmp_path, "I need a real person\n")
    assert queued.returncode == 0 and "[handed to a person" in queued.stdout


def test_kb_export_edit_import_train(tmp_path: Path) -> None:
    exported = run(["kb", "export", "kb.csv"], tmp_path)
    assert exported.returncode == 0, exported.stderr
    rows = (tmp_path / "kb.csv").read_text(encoding="utf-8").splitlines()
    assert rows[0] == "intent,category,enabled,kind,language,text,irreversible"
    assert len(rows) > 900
    addition = "\n".join(
        f"parking,general,true,example,en,{q}"
        for q in (
            "where can i park",
            "is there parking at the office",
            "car park location",
            "do you have visitor parking",
            "where do i leave my car",
        )
    )
    (tmp_path / "more.csv").write_text(
        rows[0] + "\n" + addition + "\nparking,general,true,answer,en,Park in lot B.\n",
        encoding="utf-8",
    )
    imported = run(["kb", "import", "more.csv"], tmp_path)
    assert imported.returncode == 0, imported.stderr
    assert "created 1" in imported.stdout
    asked = run(["shell"], tmp_path, "where can I park my car?\n")
    assert asked.stdout.strip() == "Park in lot B."
    rasa = run(["kb", "export", "--format", "rasa", "rasa-project"], tmp_path)
    assert rasa.returncode == 0
    assert (tmp_path / "rasa-project" / "data" / "nlu.yml").is_file()
    assert (tmp_path / "rasa-project" / "domain.yml").is_file()
    again = run(["kb", "import", "rasa-project"], tmp_path)
    assert again.returncode == 0 and "created 0, updated 0" in again.stdout


def test_bad_import_file_is_a_clear_error(tmp_path: Path) -> None:
    (tmp_path / "bad.yml").write_text("intents:\n  - name: Not Valid\n", encoding="utf-8")
    result = run(["kb", "import", "bad.yml"], tmp_path)
    assert result.returncode == 1
    assert "Error:" in result.stderr and "Not Valid" in result.stderr
    assert "Traceback" not in result.stderr


def test_invalid_configuration_is_a_clear_error(tmp_path: Path) -> None:
    result = run(["nlu", "train"], tmp_path, DESKBOT_NLU_FALLBACK_THRESHOLD="2")
    assert result.returncode == 1
    assert "nlu_fallback_threshold" in result.stderr and "Traceback" not in result.stderr
    (tmp_path / "deskbot.toml").write_text('port = "eighty"\n', encoding="utf-8")
    result = run(["--config", "deskbot.toml", "db", "upgrade"], tmp_path)
    assert result.returncode == 1 and "port" in result.stderr


def test_db_upgrade_and_nlu_commands(tmp_path: Path) -> None:
    assert "database at head" in run(["db", "upgrade"], tmp_path).stdout
    assert "database at 0004" in run(["db", "downgrade", "0004"], tmp_path).stdout
    assert "database at head" in run(["db", "upgrade"], tmp_path).stdout
    trained = run(["nlu", "train"], tmp_path)
    assert trained.returncode == 0 and "live" in trained.stdout
    parsed = run(["nlu", "parse", "I forgot my password"], tmp_path)
    assert parsed.stdout.startswith("reset_password")


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


@pytest.mark.parametrize("use_config_file", [False, True])
def test_serve_starts_and_answers_health_checks(tmp_path: Path, use_config_file: bool) -> None:
    port = _free_port()
    args = ["serve", "--port", str(port)]
    if use_config_file:
        (tmp_path / "deskbot.toml").write_text(f"port = {port}\nlog_level = 'WARNING'\n")
        args = ["--config", "deskbot.toml", "serve"]
    environment = {k: v for k, v in os.environ.items() if not k.startswith("DESKBOT_")}
    server = subprocess.Popen(
        DESKBOT + args,
        cwd=tmp_path,
        env=environment,
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
    )
    try:
        deadline = time.monotonic() + 60
        while True:
            try:
                with urllib.request.urlopen(f"http://127.0.0.1:{port}/healthz", timeout=2) as r:
                    assert r.status == 200
                    break
            except OSError:
                assert server.poll() is None, server.stderr.read() if server.stderr else ""
                assert time.monotonic() < deadline, "server did not come up"
                time.sleep(0.3)
        with urllib.request.urlopen(f"http://127.0.0.1:{port}/", timeout=5) as r:
            assert b"widget.js" in r.read()
        with urllib.request.urlopen(f"http://127.0.0.1:{port}/login", timeout=5) as r:
            assert b"Sign in" in r.read()
    finally:
        server.terminate()
        server.wait(timeout=30)
    printed = server.stdout.read() if server.stdout else ""
    logins = (tmp_path / "var" / "demo-logins.txt").read_text()
    assert "admin@example.com" in logins and "agent@example.com" in logins
    assert logins.strip() in printed


def test_nlu_evaluate_on_any_csv_with_out_of_scope_rows(tmp_path: Path) -> None:
    train = "text,intent\n" + "\n".join(
        [f"how do i reset my password {i},reset" for i in range(6)]
        + [f"what does the pro plan cost {i},price" for i in range(6)]
        + [f"where is my parcel {i},delivery" for i in range(6)]
    )
    test = (
        "text,intent\nreset my password please,reset\nhow much is pro,price\n"
        "my parcel has not come,delivery\nwhat is the capital of peru,oos\n"
    )
    (tmp_path / "train.csv").write_text(train)
    (tmp_path / "test.csv").write_text(test)
    result = run(
        [
            "nlu",
            "evaluate",
            "--train",
            "train.csv",
            "--test",
            "test.csv",
            "--oos-label",
            "oos",
            "--json",
        ],
        tmp_path,
    )
    assert result.returncode == 0, result.stderr
    figures = json.loads(result.stdout)
    assert set(figures) >= {
        "accuracy",
        "macro_f1",
        "in_scope_accuracy",
        "oos_recall",
        "oos_precision",
        "train_seconds",
        "parse_ms_p50",
        "parse_ms_p99",
    }
    assert figures["in_scope_accuracy"] >= 2 / 3
    (tmp_path / "bad.csv").write_text("words,label\nhi,x\n")
    bad = run(["nlu", "evaluate", "--train", "bad.csv", "--test", "test.csv"], tmp_path)
    assert bad.returncode == 1 and "text,intent" in bad.stderr


def test_sentiment_evaluate_prints_json_figures(tmp_path: Path) -> None:
    (tmp_path / "s.csv").write_text(
        "text,label\nstill not fixed!!! third time,negative\nthank you so much!,positive\n"
        "how do I change my email,neutral\n还是没解决，第三次了！！,negative\n"
    )
    result = run(["sentiment", "evaluate", "--data", "s.csv", "--json"], tmp_path)
    assert result.returncode == 0, result.stderr
    figures = json.loads(result.stdout)
    assert figures["accuracy"] == 1.0 and set(figures["per_label"]) == {
        "negative",
        "neutral",
        "positive",
    }
    (tmp_path / "bad.csv").write_text("text,label\nhello,angry\n")
    bad = run(["sentiment", "evaluate", "--data", "bad.csv"], tmp_path)
    assert bad.returncode == 1 and "angry" in bad.stderr


def test_churn_train_and_evaluate(tmp_path: Path) -> None:
    from tests.test_policy import synthetic_customers

    synthetic_customers(tmp_path / "customers.csv")
    evaluated = run(
        [
            "churn",
            "evaluate",
            "--data",
            "customers.csv",
            "--label",
            "churned",
            "--id",
            "email",
            "--json",
        ],
        tmp_path,
    )
    assert evaluated.returncode == 0, evaluated.stderr
    figures = json.loads(evaluated.stdout)
    assert set(figures) >= {"roc_auc", "precision", "recall", "threshold"}
    assert figures["roc_auc"] > 0.8
    trained = run(
        ["churn", "train", "--data", "customers.csv", "--label", "churned", "--id", "email"],
        tmp_path,
    )
    assert trained.returncode == 0 and (tmp_path / "var" / "churn" / "churn.joblib").is_file()
    missing = run(["churn", "train", "--data", "customers.csv", "--label", "nope"], tmp_path)
    assert missing.returncode == 1 and "no column" in missing.stderr


def test_users_add_list_disable(tmp_path: Path) -> None:
    added = run(
        [
            "users",
            "add",
            "Ann@Acme.test",
            "--role",
            "admin",
            "--team",
            "billing",
            "--password-stdin",
        ],
        tmp_path,
        "a-long-enough-password\n",
    )
    assert added.returncode == 0, added.stderr
    assert added.stdout.strip() == "added admin ann@acme.test"
    weak = run(["users", "add", "bob@acme.test", "--password-stdin"], tmp_path, "short\n")
    assert weak.returncode == 1 and "at least 10 characters" in weak.stderr
    again = run(
        ["users", "add", "ann@acme.test", "--password-stdin"], tmp_path, "another-long-one-77\n"
    )
    assert again.returncode == 1 and "exists" in again.stderr
    assert run(["users", "disable", "ann@acme.test"], tmp_path).returncode == 0
    listed = run(["users", "list"], tmp_path).stdout
    assert "ann@acme.test\tadmin\tdisabled\tpassword\tteams=billing" in listed
    missing = run(["users", "disable", "nobody@acme.test"], tmp_path)
    assert missing.returncode == 1 and "no user" in missing.stderr


def test_articles_import_list_evaluate_and_gaps_list(tmp_path: Path) -> None:
    help_dir = tmp_path / "help"
    help_dir.mkdir()
    (help_dir / "parking.md").write_text(
        "# Parking at the office\n\nVisitors park in lot B behind the blue building.\n",
        encoding="utf-8",
    )
    (help_dir / "lunch.md").write_text(
        "# Lunch\n\nThe canteen serves lunch from noon to two.\n", encoding="utf-8"
    )
    imported = run(["articles", "import", "help"], tmp_path)
    assert imported.returncode == 0, imported.stderr
    assert "created 2" in imported.stdout
    listed = run(["articles", "list", "--json"], tmp_path)
    rows = {r["slug"]: r for r in json.loads(listed.stdout)}
    assert rows["parking"]["passages"] == 1 and rows["parking"]["title"] == "Parking at the office"
    assert len(rows) > 2  # the demo help centre is there too
    bad = run(["articles", "import", "nothing.txt"], tmp_path)
    assert bad.returncode == 2 and "does not exist" in bad.stderr

    (tmp_path / "a.csv").write_text(
        "id,title,body\np,Parking,Visitors park in lot B.\nl,Lunch,Lunch is served at noon.\n",
        encoding="utf-8",
    )
    (tmp_path / "q.csv").write_text(
        "text,article_id\nwhere do visitors park,p\nwhen is lunch served,l\n", encoding="utf-8"
    )
    (tmp_path / "u.csv").write_text("text\nwhat is the capital of peru\n", encoding="utf-8")
    evaluated = run(
        [
            "articles",
            "evaluate",
            "--articles",
            "a.csv",
            "--queries",
            "q.csv",
            "--unanswerable",
            "u.csv",
            "--json",
        ],
        tmp_path,
    )
    assert evaluated.returncode == 0, evaluated.stderr
    figures = json.loads(evaluated.stdout)
    assert figures["p_at_1"] == 1.0 and figures["mrr"] == 1.0
    assert set(figures) >= {
        "answered_share",
        "answered_precision",
        "abstain_rate",
        "index_ms_p50",
        "index_ms_p99",
        "query_ms_p50",
        "query_ms_p99",
    }
    (tmp_path / "q.csv").write_text("text,article_id\nwhere,zzz\n", encoding="utf-8")
    unknown = run(["articles", "evaluate", "--articles", "a.csv", "--queries", "q.csv"], tmp_path)
    assert unknown.returncode == 1 and "not there" in unknown.stderr
    assert "Traceback" not in unknown.stderr

    gaps = run(["gaps", "list", "--json"], tmp_path)
    assert gaps.returncode == 0, gaps.stderr
    assert json.loads(gaps.stdout) == {"clusters": [], "weekly": []}
