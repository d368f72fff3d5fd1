"""`mdmtui sdm-properties` through the main entry point: settings path and linkage names wired."""

from mdmtui.cli import main
from mdmtui.storage.models import Linkage
from mdmtui.services.context import open_context

from mdmtui_testing import make_settings


def test_check_uses_configured_path_and_sdm_linkage_names(tmp_path, capsys):
    ctx = open_context(make_settings(tmp_path))
    Linkage.create(name="ITDM2 SD Manager 01", system="sdm", server_url="https://sdm01:26055")
    Linkage.create(name="Intune 本社", system="intune", server_url="https://graph.microsoft.com")
    ctx.db.close()
    path = ctx.settings.properties_path
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text("sdm.1.name=ITDM2 SD Manager 01\nsdm.1.dbhost=192.168.50.100\n"
                    "sdm.2.name=Intune 本社\nsdm.2.dbhost=SDM-Server02\n", encoding="utf-8")
    assert main(["sdm-properties", "check"]) == 1
    out = capsys.readouterr().out
    assert f"{path}:3: sdm.2.name: no SDM linkage is named 'Intune 本社'" in out
    assert ":1:" not in out


def test_missing_file_is_one_clear_line(tmp_path, capsys):
    assert main(["sdm-properties", "check", str(tmp_path / "nope.properties")]) == 1
    err = capsys.readouterr().err
    assert "cannot read" in err and "Traceback" not in err
