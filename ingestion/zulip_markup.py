"""Zulip help-center macros rendered as the words a reader of zulip.com/help sees.

Only Zulip's own macros live here (tabs, settings links, gear-menu links); the generic
handling is in `template_markup`. Labels follow the Zulip web app's wording.
"""

from __future__ import annotations

from ingestion.template_markup import humanize

TAB_LABELS = {
    "desktop-web": "Desktop/Web",
    "ios": "iOS",
    "mac": "macOS",
    "js": "JavaScript",
    "mm-default": "Default installation",
    "mm-cloud": "Cloud instance",
    "mm-gitlab-omnibus": "GitLab Omnibus",
    "mm-self-hosting-cloud-export": "Self-hosting (cloud export)",
    "disable": "Disabled",
    "azuread": "AzureAD",
    "entraid": "Microsoft Entra ID",
    "onelogin": "OneLogin",
    "logged-in": "If you are logged in",
    "logged-out": "If you are logged out",
    "dm-compose": "Compose a DM",
    "channel-compose": "Compose to a channel",
    "v4": "Zulip Server 4.0+",
    "v6": "Zulip Server 6.0+",
    "v8": "Zulip Server 8.0+",
    "linux-with-apt": "Linux with APT",
    "zulip-cloud": "Zulip Cloud",
    "via-markdown": "Via Markdown",
    "self-hosting": "Self-hosting",
}

# settings_tab identifier → (menu that holds it, tab name shown on the left)
PERSONAL = "Personal settings"
ORGANIZATION = "Organization settings"
SETTINGS_TABS = {
    "profile": (PERSONAL, "Profile"),
    "account-and-privacy": (PERSONAL, "Account & privacy"),
    "preferences": (PERSONAL, "Preferences"),
    "notifications": (PERSONAL, "Notifications"),
    "your-bots": (PERSONAL, "Bots"),
    "alert-words": (PERSONAL, "Alert words"),
    "uploaded-files": (PERSONAL, "Uploaded files"),
    "topics": (PERSONAL, "Topics"),
    "muted-users": (PERSONAL, "Muted users"),
    "organization-profile": (ORGANIZATION, "Organization profile"),
    "organization-settings": (ORGANIZATION, "Organization settings"),
    "organization-permissions": (ORGANIZATION, "Organization permissions"),
    "default-user-settings": (ORGANIZATION, "Default user settings"),
    "default-channels-list": (ORGANIZATION, "Default channels"),
    "emoji-settings": (ORGANIZATION, "Custom emoji"),
    "auth-methods": (ORGANIZATION, "Authentication methods"),
    "users": (ORGANIZATION, "Users"),
    "deactivated": (ORGANIZATION, "Deactivated users"),
    "invitations": (ORGANIZATION, "Invitations"),
    "bot-list-admin": (ORGANIZATION, "Bots"),
    "profile-field-settings": (ORGANIZATION, "Custom profile fields"),
    "linkifier-settings": (ORGANIZATION, "Linkifiers"),
    "playground-settings": (ORGANIZATION, "Code playgrounds"),
    "data-exports-admin": (ORGANIZATION, "Data exports"),
}

GEAR_ITEMS = {
    "settings": "Personal settings",
    "organization-settings": "Organization settings",
    "channel-settings": "Channel settings",
    "group-settings": "Group settings",
    "stats": "Usage statistics",
    "integrations": "Integrations",
    "plans": "Plans and pricing",
    "billing": "Billing",
    "about-zulip": "About Zulip",
}
HELP_ITEMS = {"search-filters": "Search filters", "keyboard-shortcuts": "Keyboard shortcuts"}
CHANNEL_VIEWS = {"all": "All", "not-subscribed": "Not subscribed", "subscribed": "Subscribed"}

GEAR_STEP = "1. Click the **gear** icon in the upper right corner of the web or desktop app."
HELP_STEP = "1. Click the **Help menu** (?) icon in the upper right corner of the app."


TABS_BOUNDARY = "<!-- tabs -->"
"""An HTML comment renders as nothing but still ends a list, as the tab block's <div> did."""


def _steps(*steps: str) -> str:
    return "\n\n".join(steps)


class ZulipMarkup:
    """MacroRenderer for Zulip's `{start_tabs}`, `{tab|…}`, `{settings_tab|…}`, `{relative|…}`."""

    def render(self, name: str, args: tuple[str, ...]) -> str | None:
        if name in ("start_tabs", "end_tabs"):
            return TABS_BOUNDARY
        if name == "tab" and args:
            return f"{TAB_LABELS.get(args[0], humanize(args[0]))}:"
        if name == "settings_tab" and args:
            return self._settings_tab(args[0])
        if name == "relative" and len(args) == 2:
            return self._relative(*args)
        return None

    def _settings_tab(self, key: str) -> str:
        menu, tab = SETTINGS_TABS.get(key, (PERSONAL, humanize(key)))
        return _steps(GEAR_STEP, f"1. Select **{menu}**.", f"1. On the left, click **{tab}**.")

    def _relative(self, kind: str, key: str) -> str:
        if kind in ("gear", "gear-billing"):
            return _steps(GEAR_STEP, f"1. Select **{GEAR_ITEMS.get(key, humanize(key))}**.")
        if kind == "help":
            return _steps(HELP_STEP, f"1. Select **{HELP_ITEMS.get(key, humanize(key))}**.")
        if kind == "channel":
            view = CHANNEL_VIEWS.get(key, humanize(key))
            return _steps(
                GEAR_STEP,
                "1. Select **Channel settings**.",
                f"1. Click **{view}** in the upper left.",
            )
        if kind == "group":
            view = "All groups" if key == "all" else humanize(key)
            return _steps(
                GEAR_STEP,
                "1. Select **Group settings**.",
                f"1. Click **{view}** in the upper left.",
            )
        return humanize(key)
