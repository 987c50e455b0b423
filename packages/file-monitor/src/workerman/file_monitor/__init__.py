"""workerman.file_monitor: reload workers when their code changes, through the master's
rolling reload, after checking that the new code compiles; cap their memory."""

from ._change import Change as Change
from ._check import SyntaxProblem as SyntaxProblem
from ._check import check_source as check_source
from ._exceptions import FileMonitorError as FileMonitorError
from ._exceptions import SettingError as SettingError
from ._filter import IGNORED_DIRS as IGNORED_DIRS
from ._filter import IGNORED_NAMES as IGNORED_NAMES
from ._monitor import DEFAULT_EXTENSIONS as DEFAULT_EXTENSIONS
from ._monitor import FileMonitor as FileMonitor

__all__ = [
    "DEFAULT_EXTENSIONS",
    "IGNORED_DIRS",
    "IGNORED_NAMES",
    "Change",
    "FileMonitor",
    "FileMonitorError",
    "SettingError",
    "SyntaxProblem",
    "check_source",
]
