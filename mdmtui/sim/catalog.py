"""A fixed catalog of a few thousand apps (name, versions, publisher, size) per platform family."""

from __future__ import annotations

import functools
import random
from dataclasses import dataclass

_MOBILE_SEED = [
    ("LINE", "LINE Corporation"), ("楽天市場", "Rakuten Group, Inc."), ("PayPay", "PayPay Corporation"),
    ("ジョルダン乗換案内", "Jorudan Co.,Ltd."), ("Yahoo!天気", "LY Corporation"), ("Microsoft Teams", "Microsoft Corporation"),
    ("Microsoft Outlook", "Microsoft Corporation"), ("Microsoft Authenticator", "Microsoft Corporation"),
    ("Slack", "Slack Technologies"), ("Zoom Workplace", "Zoom Communications"), ("Google Chrome", "Google LLC"),
    ("Gmail", "Google LLC"), ("Box", "Box, Inc."), ("Salesforce", "Salesforce"), ("サイボウズ Office", "Cybozu, Inc."),
    ("kintone", "Cybozu, Inc."), ("マネーフォワード クラウド経費", "Money Forward, Inc."), ("Company Portal", "Microsoft Corporation"),
    ("Mobile@Work", "MobileIron"), ("ＮＨＫニュース・防災", "NHK"),
]
_WIN_SEED = [
    ("Microsoft Edge", "Microsoft Corporation"), ("Microsoft 365 Apps for enterprise - ja-jp", "Microsoft Corporation"),
    ("Google Chrome", "Google LLC"), ("Mozilla Firefox (x64 ja)", "Mozilla"), ("7-Zip 23.01 (x64)", "Igor Pavlov"),
    ("Adobe Acrobat (64-bit)", "Adobe"), ("Lhaplus", "Schezo"), ("サクラエディタ", "サクラエディタ開発チーム"),
    ("Microsoft Visual C++ 2015-2022 Redistributable (x64)", "Microsoft Corporation"), ("Zoom Workplace", "Zoom"),
    ("Windows PC Health Check", "Microsoft Corporation"), ("Intel(R) Graphics Driver", "Intel Corporation"),
]
_WORDS = ["Cloud", "Scan", "Note", "Task", "Sync", "Travel", "Expense", "Chat", "Map", "Photo", "Print", "Secure",
          "Mail", "Calendar", "Field", "Sales", "Report", "Viewer", "Timecard", "Asset", "Learning", "Health"]
_JP_WORDS = ["勤怠", "経費", "名刺", "日報", "在庫", "点検", "受注", "会議室", "安否確認", "電子帳票", "社内ポータル"]
_PUBLISHERS = ["Contoso Ltd.", "Fabrikam, Inc.", "Northwind Traders", "株式会社サンプル", "Tailspin Toys",
               "Wingtip Systems", "アドベンチャーワークス株式会社", "Litware, Inc.", "Proseware, Inc."]


@dataclass(frozen=True, slots=True)
class App:
    """One catalog app: its versions are the releases devices may have installed."""

    name: str
    publisher: str
    versions: tuple[str, ...]
    size: int


def _versions(r: random.Random) -> tuple[str, ...]:
    major = r.randrange(1, 30)
    n = r.choice([1, 1, 2, 3])
    minors = sorted(r.sample(range(40), n))
    return tuple(f"{major}.{m}.{r.randrange(10)}" for m in minors)


def _build(seed_list, count: int, tag: str) -> tuple[App, ...]:
    r = random.Random(f"catalog:{tag}")
    apps = [App(n, p, _versions(r), r.randrange(2, 900) * 1_048_576) for n, p in seed_list]
    names = {a.name for a in apps}
    while len(apps) < count:
        words = _JP_WORDS if r.random() < 0.25 else _WORDS
        name = " ".join(r.sample(words, 2)) + (" Pro" if r.random() < 0.1 else "")
        name = f"{name} {r.randrange(2, 99)}" if name in names else name
        names.add(name)
        apps.append(App(name, r.choice(_PUBLISHERS), _versions(r), r.randrange(1, 900) * 1_048_576))
    return tuple(apps)


@functools.cache
def mobile_catalog() -> tuple[App, ...]:
    """Apps for iOS, iPadOS and Android devices."""
    return _build(_MOBILE_SEED, 3000, "mobile")


@functools.cache
def windows_catalog() -> tuple[App, ...]:
    """Apps for Windows PCs."""
    return _build(_WIN_SEED, 2000, "windows")


def catalog_for(os_name: str) -> tuple[App, ...]:
    """The catalog an OS draws its apps from."""
    return windows_catalog() if os_name == "Windows" else mobile_catalog()
