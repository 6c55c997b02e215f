"""Form helpers shared by the console pages."""

from typing import Any

from django import forms

from config.errors import InvalidInput


class ConsoleForm(forms.Form):
    """Labels without Django's trailing colon (screen readers read it out)."""

    def __init__(self, *args: Any, **kwargs: Any) -> None:
        kwargs.setdefault("label_suffix", "")
        super().__init__(*args, **kwargs)


def add_domain_error(form: forms.Form, exc: InvalidInput) -> None:
    """Domain messages read "field: problem"; attach them to that field when the form has
    one, else to the form."""
    field, sep, message = exc.message.partition(": ")
    if sep and field in form.fields:
        form.add_error(field, message)
    else:
        form.add_error(None, exc.message)


def categories_parse(text: str) -> list[dict[str, str]] | None:
    """Mem0 custom categories, one per line as "name: description" (or just a name)."""
    categories: list[dict[str, str]] = []
    for line in text.splitlines():
        name, _, description = line.partition(":")
        if name.strip():
            categories.append({name.strip(): description.strip()})
    return categories or None


def categories_format(categories: object) -> str:
    lines: list[str] = []
    for item in categories if isinstance(categories, list) else []:
        if isinstance(item, dict):
            lines.extend(
                f"{name}: {description}".rstrip(": ") for name, description in item.items()
            )
        elif isinstance(item, str):
            lines.append(item)
    return "\n".join(lines)
