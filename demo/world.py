"""The shared world every demo system agrees on: countries, their regions and rough 2024 sizes.

Kept dependency-free and tiny so the domains can copy `COUNTRY_REGIONS` instead of importing demo code.
"""

from __future__ import annotations

REGIONS: tuple[str, ...] = ("NA", "LATAM", "EMEA", "APAC")

COUNTRY_REGIONS: dict[str, str] = {
    "USA": "NA",
    "CAN": "NA",
    "MEX": "LATAM",
    "BRA": "LATAM",
    "ARG": "LATAM",
    "COL": "LATAM",
    "GBR": "EMEA",
    "DEU": "EMEA",
    "FRA": "EMEA",
    "ESP": "EMEA",
    "ITA": "EMEA",
    "NLD": "EMEA",
    "SWE": "EMEA",
    "POL": "EMEA",
    "ZAF": "EMEA",
    "NGA": "EMEA",
    "EGY": "EMEA",
    "IND": "APAC",
    "CHN": "APAC",
    "JPN": "APAC",
    "KOR": "APAC",
    "AUS": "APAC",
    "IDN": "APAC",
    "SGP": "APAC",
}

# ISO3 -> (ISO2, name as the World Bank spells it, population 2024 in millions, GDP 2024 in US$ billions)
COUNTRIES: dict[str, tuple[str, str, float, float]] = {
    "USA": ("US", "United States", 340.1, 29180.0),
    "CAN": ("CA", "Canada", 41.3, 2241.0),
    "MEX": ("MX", "Mexico", 130.9, 1853.0),
    "BRA": ("BR", "Brazil", 212.0, 2173.7),
    "ARG": ("AR", "Argentina", 45.7, 638.4),
    "COL": ("CO", "Colombia", 52.9, 418.5),
    "GBR": ("GB", "United Kingdom", 69.2, 3644.0),
    "DEU": ("DE", "Germany", 83.5, 4659.9),
    "FRA": ("FR", "France", 68.5, 3162.1),
    "ESP": ("ES", "Spain", 48.8, 1722.7),
    "ITA": ("IT", "Italy", 58.9, 2372.8),
    "NLD": ("NL", "Netherlands", 18.0, 1227.5),
    "SWE": ("SE", "Sweden", 10.6, 610.1),
    "POL": ("PL", "Poland", 36.6, 914.7),
    "ZAF": ("ZA", "South Africa", 64.0, 400.3),
    "NGA": ("NG", "Nigeria", 232.7, 187.8),
    "EGY": ("EG", "Egypt, Arab Rep.", 116.5, 389.1),
    "IND": ("IN", "India", 1450.9, 3912.7),
    "CHN": ("CN", "China", 1408.9, 18743.8),
    "JPN": ("JP", "Japan", 124.0, 4026.2),
    "KOR": ("KR", "Korea, Rep.", 51.7, 1875.4),
    "AUS": ("AU", "Australia", 27.2, 1802.0),
    "IDN": ("ID", "Indonesia", 283.5, 1396.3),
    "SGP": ("SG", "Singapore", 6.0, 547.4),
}

ISO2_TO_ISO3: dict[str, str] = {iso2: iso3 for iso3, (iso2, *_rest) in COUNTRIES.items()}
