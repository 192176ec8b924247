from typer.testing import CliRunner

from invdesign.cli.main import app


def test_help_lists_the_tool():
    result = CliRunner().invoke(app, ["--help"])
    assert result.exit_code == 0
    assert "Inverse design" in result.output
