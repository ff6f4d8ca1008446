"""kcplan's exit codes, defined once: every command and the README's table use these.

0 and 1 as every CLI; 2 means "there is something to do" (plan --detailed-exitcode, drift), as
Terraform's detailed exit code; 3 means "done, but not healthy" (apply's verification, status, sandbox).
"""

from __future__ import annotations

OK = 0
ERROR = 1  # any error, an interrupted apply included
CHANGES = 2  # plan --detailed-exitcode: changes present; drift: drift found
UNHEALTHY = 3  # apply verification failed, status found failures, sandbox not healthy
