"""The 24 shared data categories and the feed's columns.

Categories 1-10 are the ten public ones [CASE]. The FSS also named the Kakao account ID, sign-up
history, transaction history (balance, top-up, withdrawal, payment, transfer), the number of
registered cards and masked e-mail/phone [CASE]; the project's choice of the remaining fourteen
follows those names and is documented here (an [ASSUMPTION] where the record is silent).

Windowed columns carry ``{w}``: one column per trailing window of ``feed.windows`` (e.g.
``n_payments_7d``). A window-7 column is the record as sent that day; longer windows are what a
recipient retaining that many daily records could compute.
"""

from __future__ import annotations

from dataclasses import dataclass


@dataclass(frozen=True)
class Category:
    number: int
    name: str
    public: bool
    source: str
    columns: tuple[str, ...]
    meaning: str

    def column_names(self, windows: tuple[int, ...]) -> list[str]:
        out: list[str] = []
        for col in self.columns:
            if "{w}" in col:
                out.extend(col.format(w=w) for w in windows)
            else:
                out.append(col)
        return out


CATEGORIES: tuple[Category, ...] = (
    Category(1, "customer_number", True, "CASE", ("customer_number_hash",),
             "Encrypted internal customer number (hex digest)."),
    Category(2, "phone_number", True, "CASE", ("phone_hash",),
             "Mobile phone number 010-XXXX-XXXX (hex digest)."),
    Category(3, "email_address", True, "CASE", ("email_hash",), "E-mail address (hex digest)."),
    Category(4, "join_date", True, "CASE", ("join_date",), "Kakao Pay join date."),
    Category(5, "account_tenure", True, "CASE", ("tenure_days",),
             "Days since joining, as of the observation date."),
    Category(6, "id_verification", True, "CASE", ("id_verified",),
             "Whether the account is ID-card verified."),
    Category(7, "pay_money_balance", True, "CASE", ("pay_money_balance",),
             "Pay Money balance at the end of the observation date (KRW)."),
    Category(8, "topup_count", True, "CASE", ("n_topups_{w}d",),
             "Number of top-ups (manual and automatic) in the window."),
    Category(9, "payment_count", True, "CASE", ("n_payments_{w}d",),
             "Number of merchant payments in the window."),
    Category(10, "transfer_count", True, "CASE", ("n_transfers_{w}d",),
             "Number of P2P transfers, sent and received, in the window."),
    Category(11, "kakao_account_id", False, "CASE", ("kakao_account_hash",),
             "Kakao account ID (its sign-in e-mail or phone; hex digest)."),
    Category(12, "masked_email", False, "CASE", ("masked_email",),
             "Masked e-mail: two characters, ***, full domain."),
    Category(13, "masked_phone", False, "CASE", ("masked_phone",),
             "Masked phone: 010-****- and the last four digits."),
    Category(14, "signup_history", False, "CASE", ("signup_channel", "verification_carrier"),
             "Sign-up channel and the mobile carrier used for identity verification at sign-up."),
    Category(15, "registered_cards", False, "CASE", ("n_cards",),
             "Number of registered payment cards."),
    Category(16, "balance_history", False, "CASE",
             ("balance_mean_{w}d", "low_balance_days_{w}d"),
             "Mean end-of-day balance and days ending below the low-balance mark, in the window."),
    Category(17, "topup_history", False, "CASE", ("topup_amount_{w}d", "n_auto_topups_{w}d"),
             "Top-up amount and number of automatic top-ups in the window."),
    Category(18, "payment_history", False, "CASE", ("payment_amount_{w}d", "n_declines_{w}d"),
             "Payment amount and insufficient-funds declines of payments and transfers."),
    Category(19, "transfer_history", False, "CASE",
             ("transfer_in_amount_{w}d", "transfer_out_amount_{w}d"),
             "Amounts received and sent by P2P transfer in the window."),
    Category(20, "withdrawal_history", False, "CASE",
             ("n_withdrawals_{w}d", "withdrawal_amount_{w}d"),
             "Withdrawals of Pay Money to the bank: number and amount."),
    Category(21, "bank_account", False, "ASSUMPTION", ("bank_linked",),
             "Whether a bank account is linked (for top-ups)."),
    Category(22, "auto_topup_setting", False, "ASSUMPTION", ("auto_topup",),
             "Whether automatic top-up from the linked bank account is on."),
    Category(23, "apple_billing", False, "ASSUMPTION", ("apple_registered",),
             "Whether Kakao Pay is registered as the user's App Store payment method."),
    Category(24, "appstore_history", False, "ASSUMPTION",
             ("n_appstore_charges_{w}d", "appstore_amount_{w}d", "n_appstore_declines_{w}d"),
             "Grouped App Store charges settled by Kakao Pay: number, amount, failed attempts."),
)

assert len(CATEGORIES) == 24
assert [c.number for c in CATEGORIES] == list(range(1, 25))

#: KRW edges of the balance and amount bands of "categorised" (binned) data, as the court
#: described the shared items. [ASSUMPTION] the band edges.
AMOUNT_BANDS = (0, 1, 10_000, 30_000, 100_000, 300_000, 1_000_000, 3_000_000)
#: Counts above this are capped in categorised data. [ASSUMPTION]
COUNT_CAP = 10

#: Columns that identify a feed row (not shared categories).
KEY_COLUMNS = ("user_id", "observation_date")


def feed_columns(windows: tuple[int, ...]) -> list[str]:
    """All feed columns in order: keys, then each category's columns."""
    cols = list(KEY_COLUMNS)
    for cat in CATEGORIES:
        cols.extend(cat.column_names(windows))
    return cols


def category_of(column: str, windows: tuple[int, ...]) -> Category:
    """The category a feed column belongs to."""
    for cat in CATEGORIES:
        if column in cat.column_names(windows):
            return cat
    raise KeyError(column)
