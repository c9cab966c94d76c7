# Dates as the pages have always shown them in English: 3 Dec 2026, 14:05.
DATE_FORMAT = "j M Y"
DATETIME_FORMAT = "j M Y, H:i:s T"
SHORT_DATETIME_FORMAT = "j M Y, H:i"
TIME_FORMAT = "H:i:s"
MONTH_DAY_FORMAT = "j M"
DECIMAL_SEPARATOR = "."
THOUSAND_SEPARATOR = ","
NUMBER_GROUPING = 3
