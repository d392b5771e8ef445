"""The application the virtual board runs after the bootloader's jump, behind one interface.

* :mod:`.program` -- :class:`ApplicationProgram` (what the board takes, like a bootloader), :class:`AppContext`
  (what the board gives a starting application) and :class:`AppRun` (one run, from the jump to the next reset
  or power cut);
* :mod:`.model` -- :class:`ModelApplication`: Harmony's generated OTA application as a Python model (the OTA
  service and the SYS_COMMAND console), the board's default.

It starts no process: the host hands the board the user's own application C code through the same interface
(``harness.native.application_program``).
"""

from bootloader_model.application.model import ModelApplication
from bootloader_model.application.program import AppContext, ApplicationProgram, AppRun

__all__ = ["AppContext", "AppRun", "ApplicationProgram", "ModelApplication"]
