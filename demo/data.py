"""Fixed ingredients of the demo company: catalog, names, places, behaviour tables."""

from decimal import Decimal


def _words(text: str) -> list[str]:
    return text.split()


COMPANY = {
    "name": "Northwind Supplies GmbH",
    "legal_name": "Northwind Supplies GmbH",
    "address": "Speicherstraße 12\n20457 Hamburg\nGermany",
    "tax_id": "DE287654321",
    "email": "receivables@northwind-supplies.example",
    "phone": "+49 40 3259 7700",
    "payment_instructions": (
        "Please transfer to Northwind Supplies GmbH, Hamburger Sparkasse\n"
        "IBAN DE89 3704 0044 0532 0130 00 · BIC COBADEFFXXX\n"
        "Quote the invoice number as the payment reference."
    ),
    "write_off_limit": Decimal("50.00"),
}
PASSWORD = "demo-password-1"

# (sku, name, EUR list price, VAT rate in Germany)
CATALOG = [
    ("PAP-A4-500", "Copy paper A4, 80 g, 500 sheets", "5.90", 19),
    ("PAP-A3-500", "Copy paper A3, 80 g, 500 sheets", "11.40", 19),
    ("TON-HP-26X", "Toner cartridge HP 26X, black", "189.00", 19),
    ("TON-BR-2420", "Toner cartridge Brother TN-2420", "72.50", 19),
    ("ENV-DL-1000", "Envelopes DL with window, box of 1,000", "34.90", 19),
    ("FIL-LEV-80", "Lever arch file 80 mm, blue", "3.20", 19),
    ("PEN-GEL-12", "Gel pens, black, pack of 12", "9.80", 19),
    ("NTB-A5-DOT", "Notebook A5, dotted", "4.60", 19),
    ("LBL-THM-500", "Thermal labels 100x150 mm, roll of 500", "18.90", 19),
    ("BOX-FLD-M20", "Folding boxes 400x300x200 mm, pack of 20", "24.50", 19),
    ("TAP-PP-6", "Packing tape 50 mm x 66 m, 6 rolls", "12.90", 19),
    ("STR-FLM-6", "Stretch film 500 mm, 6 rolls", "68.00", 19),
    ("PAL-EUR-A", "EUR pallet, used, grade A", "14.50", 19),
    ("GLV-NIT-100", "Nitrile gloves M, box of 100", "8.40", 19),
    ("CLN-SRF-5L", "Surface cleaner, 5 l canister", "15.70", 19),
    ("TWL-PAP-6", "Paper towels, 2-ply, 6 rolls", "21.30", 19),
    ("COF-BEA-1K", "Coffee beans, 1 kg", "17.90", 7),
    ("TEA-ASS-100", "Tea assortment, 100 bags", "9.50", 7),
    ("WAT-MIN-12", "Mineral water 0.5 l, crate of 12", "6.20", 7),
    ("CHR-ERG-01", "Office chair, ergonomic", "289.00", 19),
    ("DSK-SIT-160", "Sit-stand desk 160x80 cm", "649.00", 19),
    ("LMP-LED-01", "LED desk lamp", "49.90", 19),
    ("MON-27-QHD", "Monitor 27 inch QHD", "279.00", 19),
    ("KBD-USB-DE", "Keyboard USB, German layout", "24.90", 19),
    ("MSE-WRL-01", "Wireless mouse", "19.90", 19),
    ("HDS-USB-01", "USB headset", "39.90", 19),
    ("CBL-HDMI-2", "HDMI cable, 2 m", "7.90", 19),
    ("BAT-AA-24", "Batteries AA, pack of 24", "11.90", 19),
    ("SHL-STL-5", "Steel shelving unit, 5 shelves", "129.00", 19),
    ("TRK-PAL-25", "Pallet truck 2.5 t", "399.00", 19),
    ("SAF-VST-01", "High-visibility safety vest", "4.90", 19),
    ("SAF-HLM-01", "Safety helmet", "12.50", 19),
    ("FIR-EXT-6", "Fire extinguisher, 6 kg foam", "69.00", 19),
    ("FST-AID-01", "First aid kit DIN 13157", "34.00", 19),
    ("SRV-INST-H", "Installation service, per hour", "78.00", 19),
    ("SRV-DLV-01", "Delivery and handling", "45.00", 19),
]
SERVICE_SKUS = {"SRV-INST-H", "SRV-DLV-01"}
# A line's quantity is scaled down for items dearer than this (EUR): a customer
# orders 50 reams of paper but 2 desks.
UNIT_BUDGET = Decimal(40)

# Price lists in other currencies: EUR list price times this, rounded.
PRICE_FACTOR = {
    "EUR": Decimal(1),
    "USD": Decimal("1.10"),
    "GBP": Decimal("0.86"),
    "JPY": Decimal(160),
}
# Starting point of the stored FX rates: one unit of currency in EUR.
FX_START = {"USD": 0.92, "GBP": 1.17, "JPY": 0.0062}

# name, kind, days, instalments
TERMS = [
    ("Net 14", "net", 14, []),
    ("Net 30", "net", 30, []),
    ("2/10 net 30", "net", 30, []),
    ("Net 60", "net", 60, []),
    ("End of month + 30", "end_of_month", 30, []),
    (
        "3 instalments 40/30/30",
        "instalments",
        0,
        [
            {"percent": "40", "days": 30},
            {"percent": "30", "days": 60},
            {"percent": "30", "days": 90},
        ],
    ),
]
# Early-payment discounts of the terms above: (percent, days).
TERM_DISCOUNTS = {"2/10 net 30": ("2", 10)}

SEGMENTS = {
    # share of customers, invoices per month, (lines min, max), (quantity min, max),
    # terms with weights, behaviours with weights
    "enterprise": {
        "share": 5,
        "rate": 4.6,
        "lines": (2, 6),
        "quantity": (8, 90),
        "terms": {"Net 60": 50, "End of month + 30": 40, "Net 30": 10},
        "behaviour": {"prompt": 40, "late": 50, "erratic": 9, "stopped": 1},
    },
    "mid-market": {
        "share": 22,
        "rate": 1.65,
        "lines": (1, 4),
        "quantity": (3, 30),
        "terms": {
            "Net 30": 45,
            "2/10 net 30": 15,
            "End of month + 30": 30,
            "3 instalments 40/30/30": 10,
        },
        "behaviour": {"prompt": 50, "late": 30, "erratic": 17, "stopped": 3},
    },
    "SMB": {
        "share": 68,
        "rate": 0.8,
        "lines": (1, 3),
        "quantity": (1, 10),
        "terms": {"Net 14": 45, "Net 30": 40, "2/10 net 30": 15},
        "behaviour": {"prompt": 45, "late": 24, "erratic": 27, "stopped": 4},
    },
    "public sector": {
        "share": 5,
        "rate": 1.1,
        "lines": (2, 5),
        "quantity": (4, 50),
        "terms": {"Net 30": 90, "3 instalments 40/30/30": 10},
        "behaviour": {"slow": 100},
    },
}

# Invoicing volume by calendar month: a supplies wholesaler's year.
SEASON = {
    1: 0.85, 2: 0.92, 3: 1.05, 4: 1.0, 5: 1.0, 6: 1.04,
    7: 0.9, 8: 0.78, 9: 1.08, 10: 1.12, 11: 1.2, 12: 1.06,
}  # fmt: skip

# country, currency, language, share among EUR customers (others by currency)
EUR_COUNTRIES = [("DE", 72), ("AT", 10), ("NL", 7), ("FR", 6), ("IT", 3), ("ES", 2)]
LANGUAGE = {
    "DE": "de", "AT": "de", "NL": "nl", "FR": "fr", "IT": "it", "ES": "es",
    "US": "en", "GB": "en", "JP": "ja",
}  # fmt: skip
PHONE_PREFIX = {
    "DE": "+49", "AT": "+43", "NL": "+31", "FR": "+33", "IT": "+39", "ES": "+34",
    "US": "+1", "GB": "+44", "JP": "+81",
}  # fmt: skip
LEGAL_FORMS = {
    "DE": ["GmbH", "GmbH", "AG", "GmbH & Co. KG", "KG", "e.K."],
    "AT": ["GmbH", "AG"],
    "NL": ["B.V."],
    "FR": ["SAS", "SARL"],
    "IT": ["S.r.l.", "S.p.A."],
    "ES": ["S.L."],
    "US": ["Inc.", "LLC", "Corp."],
    "GB": ["Ltd", "Ltd", "PLC"],
    "JP": ["K.K."],
}
CITIES = {
    "DE": [
        ("Berlin", "10115"), ("Hamburg", "20095"), ("München", "80331"),
        ("Köln", "50667"), ("Frankfurt am Main", "60311"), ("Stuttgart", "70173"),
        ("Düsseldorf", "40213"), ("Leipzig", "04109"), ("Dortmund", "44135"),
        ("Bremen", "28195"), ("Dresden", "01067"), ("Hannover", "30159"),
        ("Nürnberg", "90402"), ("Bielefeld", "33602"), ("Mannheim", "68159"),
        ("Kiel", "24103"), ("Freiburg", "79098"), ("Augsburg", "86150"),
    ],
    "AT": [("Wien", "1010"), ("Graz", "8010"), ("Linz", "4020"), ("Salzburg", "5020")],
    "NL": [("Amsterdam", "1012"), ("Rotterdam", "3011"), ("Utrecht", "3511")],
    "FR": [("Paris", "75001"), ("Lyon", "69001"), ("Strasbourg", "67000")],
    "IT": [("Milano", "20121"), ("Torino", "10121"), ("Bologna", "40121")],
    "ES": [("Madrid", "28001"), ("Barcelona", "08001"), ("Valencia", "46001")],
    "US": [("Chicago, IL", "60601"), ("Austin, TX", "73301"), ("Boston, MA", "02108")],
    "GB": [("London", "EC1A 1BB"), ("Manchester", "M1 1AE"), ("Leeds", "LS1 1UR")],
    "JP": [("Tokyo", "100-0001"), ("Osaka", "530-0001")],
}  # fmt: skip
STREETS = {
    "DE": ["Hauptstraße", "Industriestraße", "Bahnhofstraße", "Gewerbering"],
    "AT": ["Hauptstraße", "Gewerbepark"],
    "NL": ["Industrieweg", "Stationsplein"],
    "FR": ["Rue de la République", "Avenue Jean Jaurès"],
    "IT": ["Via Roma", "Via Garibaldi"],
    "ES": ["Calle Mayor", "Avenida de la Industria"],
    "US": ["Main Street", "Commerce Drive"],
    "GB": ["High Street", "Station Road"],
    "JP": ["Chiyoda", "Kita-ku Umeda"],
}
NAME_PARTS = {
    "de": _words(
        "Alpen Baltic Nordstern Rhein Falken Hanse Eichen Elbe Isar Main Weser "
        "Donau Spree Mosel Sonnen Berg Tannen Linden Kristall Adler Löwen Stern "
        "Brücken Hafen Kontor Mühlen Garten Feld Quell Werk Nord Süd West Ost "
        "Bavaria Saxonia Frankonia Westfalen Ems Lahn Neckar Harz Eifel Allgäu"
    ),
    "en": _words(
        "Summit Harbor Pioneer Granite Beacon Cedar Maple Riverside Keystone Atlas "
        "Liberty Horizon Silverline Redwood Bluewater Ironbridge Northgate Lakeside "
        "Oakridge Meridian Crown Sterling Union Frontier Clearview Evergreen"
    ),
    "other": _words(
        "Euro Nova Tecno Delta Alfa Omega Prima Vita Terra Aqua Luce Sol Mare "
        "Porto Sierra Costa Vento Fiore Nord Zuid Oost Kaas Tulp Molen Dijk"
    ),
    "ja": _words("Sakura Fuji Kawa Yama Hoshi Tsubasa Midori Asahi Nishi Kita"),
}
BUSINESSES = {
    "de": _words(
        "Logistik Bau Metallbau Technik Handel Medien Systeme Pharma Feinkost "
        "Textil Energie Druck Möbel Automotive Beratung Elektro Kunststoff Holz "
        "Glas Haustechnik Maschinenbau Spedition Immobilien Software Optik "
        "Lebensmittel Gastronomie Hotels Pflege Reinigung Sicherheit Labortechnik"
    ),
    "en": _words(
        "Logistics Builders Metalworks Engineering Trading Media Systems Pharma "
        "Foods Textiles Energy Printing Furniture Automotive Consulting Electric "
        "Plastics Timber Software Hospitality Healthcare Security Labs"
    ),
}
PUBLIC_BODIES = [
    "Stadtwerke {city}", "Stadtverwaltung {city}", "Landratsamt {city}",
    "Universitätsklinikum {city}", "Hochschule {city}", "Amtsgericht {city}",
    "Kreisverwaltung {city}", "Städtisches Klinikum {city}",
    "Berufsschulzentrum {city}", "Finanzamt {city}",
]  # fmt: skip
FIRST_NAMES = {
    "de": _words(
        "Anna Lena Julia Laura Sarah Katrin Sabine Petra Jonas Lukas Felix Tobias "
        "Jan Stefan Thomas Michael Andreas Markus Miriam Carla Nina Ole Hannes Ute"
    ),
    "en": _words(
        "Emma Olivia Sophie Grace Chloe James Oliver Harry Jack Daniel Michael "
        "Sarah Emily Jessica Thomas Ryan David Laura"
    ),
    "other": _words("Marie Lucas Giulia Marco Sofia Pablo Lotte Daan Camille Hugo"),
    "ja": _words("Haruto Yui Sota Aoi Ren Hina Yuto Sakura"),
}
LAST_NAMES = {
    "de": _words(
        "Müller Schmidt Schneider Fischer Weber Meyer Wagner Becker Schulz "
        "Hoffmann Koch Richter Klein Wolf Schröder Neumann Braun Zimmermann "
        "Krüger Hartmann Lange Werner Krause Vogel"
    ),
    "en": _words(
        "Smith Johnson Brown Taylor Wilson Davies Evans Thomas Roberts Walker "
        "Wright Clarke Hughes Green Baker"
    ),
    "other": _words("Bernard Rossi Garcia de Vries Janssen Martin Russo Lopez Dubois"),
    "ja": _words("Sato Suzuki Takahashi Tanaka Watanabe Ito Yamamoto Nakamura"),
}
COLLECTORS = [
    ("Mara", "Hoffmann"), ("Jonas", "Weber"), ("Leonie", "Fischer"),
    ("Tobias", "Wagner"), ("Aylin", "Demir"), ("Niklas", "Brandt"),
    ("Sophie", "Keller"), ("Paul", "Lorenz"), ("Emily", "Scholz"),
    ("David", "Krause"), ("Hanna", "Roth"), ("Elias", "Frank"),
    ("Clara", "Winter"), ("Moritz", "Sommer"), ("Lea", "Jung"),
    ("Finn", "Albrecht"), ("Marie", "Busch"), ("Luca", "Peters"),
    ("Ida", "Haas"), ("Ben", "Seidel"),
]  # fmt: skip
CARRIERS = ["DHL Freight", "DB Schenker", "UPS", "DPD", "Own fleet"]
CREDIT_REASONS = [
    ("Goods damaged in transit", "return"),
    ("Wrong item delivered, returned", "return"),
    ("Price correction: contract price not applied", "price"),
    ("Quantity difference on delivery", "return"),
    ("Quarterly volume rebate", "price"),
]
