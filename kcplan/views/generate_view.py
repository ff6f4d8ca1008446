"""The report of `import --generate` (pure): files, the connector each holds, the variables to set."""

from __future__ import annotations

from pathlib import PurePosixPath

from kcplan.generate.build import Generated


def render_generated(generated: Generated, *, env: str, secrets_file: str, dry_run: bool) -> str:
    verb = "Would write" if dry_run else "Wrote"
    count = len(generated.files)
    lines = [f"{verb} {count} file{'s' if count != 1 else ''} for environment '{env}':"]
    width = max((len(p) for p in generated.files), default=0)
    for path in generated.libraries:
        lines.append(f"  {path.ljust(width)}  (keys shared by the connectors of one class)")
    for name, path in sorted(generated.file_of.items()):
        note = "" if PurePosixPath(path).stem == name else "  (the name cannot be the file name as it is)"
        lines.append(f"  {path.ljust(width)}  {name}{note}")
    if generated.secrets:
        lines += ["", f"Secret values are not written: the files read them with std.extVar. Set these "
                      f"environment variables before plan and apply ({'would be ' if dry_run else ''}"
                      f"listed in {secrets_file}):"]
        var_width = max(len(s.variable) for s in generated.secrets)
        lines += [f"  {s.variable.ljust(var_width)}  {s.connector}: {s.key}" for s in generated.secrets]
    if dry_run:
        lines += ["", "Nothing was written or imported (--dry-run)."]
    return "\n".join(lines) + "\n"
