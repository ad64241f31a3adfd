"""Industries of the synthetic register (GB/T 4754-2017 classes) and their planted traits.

Each industry carries the traits the generator plants and ``truth.json`` records:
its share of the register, how much more often than average its enterprises are
penalised (``case_multiplier``), how likely they are to be key units, and the
mix of problem families its cases and inspection findings fall into.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Final

#: Problem families: what a violation is about, as analytics should recover it.
FAMILIES: Final = (
    "wastewater",  # 超标排放水污染物, 暗管/渗坑
    "air",  # 超标排放大气污染物
    "monitoring",  # 篡改/伪造自动监测数据, 干扰在线监测
    "hazardous_waste",  # 危险废物贮存/处置/转移
    "dust",  # 扬尘
    "eia",  # 未批先建, 未验先投
    "permit",  # 无证排污
    "solid_waste",  # 一般工业固废堆放
    "noise",  # 噪声超标
)

_BOILER = "《锅炉大气污染物排放标准》(GB 13271-2014)"
_GENERAL_AIR = "《大气污染物综合排放标准》(GB 16297-1996)"
_GENERAL_WATER = "《污水综合排放标准》(GB 8978-1996)"


@dataclass(frozen=True)
class Industry:
    """One GB/T 4754-2017 class as the generator uses it."""

    code: str  # letter + four digits, e.g. "C1340"
    name: str  # official class name
    share: float  # relative share of the register
    case_multiplier: float  # planted: case rate relative to the average enterprise
    keyness: float  # 0-1, how likely a key pollutant-discharge unit
    families: dict[str, float]  # planted problem-family mix (sums to 1)
    words: tuple[str, ...]  # industry words used in company names
    factory_word: str  # the "…厂" form of a name ("糖厂"), "" where factories are not named so
    urban: float = 1.0  # affinity to city centres (>1) or the countryside (<1)
    water_standard: str = _GENERAL_WATER
    air_standard: str = _GENERAL_AIR
    water_pollutants: tuple[tuple[str, float], ...] = (("化学需氧量", 100.0), ("氨氮", 15.0))
    air_pollutants: tuple[tuple[str, float], ...] = (("颗粒物", 30.0), ("二氧化硫", 200.0))
    hazardous: tuple[str, ...] = ("废矿物油（HW08）", "废包装桶（HW49）")
    solid: tuple[str, ...] = ("生产废渣",)
    extra: dict[str, str] = field(default_factory=dict)

    @property
    def top_family(self) -> str:
        """The family this industry's problems most often belong to."""
        return max(self.families, key=lambda f: self.families[f])


_SUGAR_WATER = (("化学需氧量", 100.0), ("悬浮物", 70.0), ("氨氮", 10.0))
_PAPER_WATER = (("化学需氧量", 90.0), ("悬浮物", 30.0), ("色度", 50.0))

INDUSTRIES: Final[tuple[Industry, ...]] = (
    Industry(
        "A0313",
        "猪的饲养",
        8.0,
        1.6,
        0.25,
        {"wastewater": 0.6, "eia": 0.15, "solid_waste": 0.1, "permit": 0.1, "air": 0.05},
        ("生猪养殖", "农牧", "牧业", "养殖"),
        "",
        urban=0.2,
        water_standard="《畜禽养殖业污染物排放标准》(GB 18596-2001)",
        water_pollutants=(("化学需氧量", 400.0), ("氨氮", 80.0), ("总磷", 8.0)),
        hazardous=("废弃兽药及包装物（HW03）",),
        solid=("猪粪", "沼渣"),
    ),
    Industry(
        "B0810",
        "铁矿采选",
        1.5,
        1.5,
        0.5,
        {"solid_waste": 0.35, "wastewater": 0.25, "dust": 0.25, "eia": 0.15},
        ("矿业", "矿产"),
        "",
        urban=0.2,
        solid=("尾矿", "废石"),
    ),
    Industry(
        "C1340",
        "制糖业",
        4.0,
        2.5,
        0.8,
        {
            "wastewater": 0.55,
            "air": 0.15,
            "solid_waste": 0.12,
            "monitoring": 0.08,
            "eia": 0.05,
            "noise": 0.05,
        },
        ("糖业", "制糖"),
        "糖厂",
        urban=0.4,
        water_standard="《制糖工业水污染物排放标准》(GB 21909-2008)",
        air_standard=_BOILER,
        water_pollutants=_SUGAR_WATER,
        solid=("滤泥", "蔗渣"),
    ),
    Industry(
        "C1351",
        "牲畜屠宰",
        3.0,
        1.5,
        0.3,
        {"wastewater": 0.65, "solid_waste": 0.1, "noise": 0.1, "eia": 0.1, "permit": 0.05},
        ("肉联", "食品", "屠宰"),
        "肉联厂",
        urban=0.8,
        water_standard="《肉类加工工业水污染物排放标准》(GB 13457-92)",
        water_pollutants=(("化学需氧量", 80.0), ("氨氮", 15.0), ("动植物油", 15.0)),
        solid=("屠宰废渣",),
    ),
    Industry(
        "C1391",
        "淀粉及淀粉制品制造",
        3.0,
        2.0,
        0.4,
        {"wastewater": 0.6, "air": 0.1, "solid_waste": 0.1, "eia": 0.1, "permit": 0.1},
        ("淀粉", "木薯淀粉"),
        "淀粉厂",
        urban=0.3,
        water_standard="《淀粉工业水污染物排放标准》(GB 25461-2010)",
        air_standard=_BOILER,
        water_pollutants=(("化学需氧量", 100.0), ("氨氮", 15.0), ("总氰化物", 0.5)),
        solid=("木薯渣",),
    ),
    Industry(
        "C1511",
        "酒精制造",
        1.5,
        2.0,
        0.6,
        {"wastewater": 0.55, "air": 0.15, "monitoring": 0.1, "solid_waste": 0.1, "eia": 0.1},
        ("酒精", "生物能源"),
        "酒精厂",
        urban=0.4,
        water_standard="《发酵酒精和白酒工业水污染物排放标准》(GB 27631-2011)",
        air_standard=_BOILER,
        solid=("酒糟",),
    ),
    Industry(
        "C1713",
        "棉印染精加工",
        1.5,
        2.0,
        0.5,
        {"wastewater": 0.65, "hazardous_waste": 0.1, "air": 0.1, "eia": 0.1, "permit": 0.05},
        ("印染", "纺织印染"),
        "印染厂",
        urban=0.8,
        water_standard="《纺织染整工业水污染物排放标准》(GB 4287-2012)",
        water_pollutants=(("化学需氧量", 80.0), ("色度", 50.0), ("苯胺类", 1.0)),
        hazardous=("废染料桶（HW12）",),
        solid=("印染污泥",),
    ),
    Industry(
        "C2021",
        "胶合板制造",
        8.0,
        1.0,
        0.1,
        {"air": 0.4, "dust": 0.15, "eia": 0.2, "permit": 0.1, "noise": 0.15},
        ("木业", "板业", "人造板"),
        "胶合板厂",
        urban=0.5,
        air_pollutants=(("颗粒物", 120.0), ("甲醛", 25.0)),
        solid=("木屑", "锯末"),
    ),
    Industry(
        "C2211",
        "木竹浆制造",
        1.5,
        2.5,
        0.9,
        {"wastewater": 0.55, "air": 0.1, "monitoring": 0.15, "solid_waste": 0.1, "eia": 0.1},
        ("浆纸", "林浆纸", "纸业"),
        "浆纸厂",
        urban=0.4,
        water_standard="《制浆造纸工业水污染物排放标准》(GB 3544-2008)",
        air_standard=_BOILER,
        water_pollutants=_PAPER_WATER,
        solid=("白泥", "碱渣"),
    ),
    Industry(
        "C2221",
        "机制纸及纸板制造",
        3.0,
        2.0,
        0.5,
        {"wastewater": 0.5, "air": 0.15, "solid_waste": 0.15, "eia": 0.1, "permit": 0.1},
        ("纸业", "造纸"),
        "造纸厂",
        urban=0.6,
        water_standard="《制浆造纸工业水污染物排放标准》(GB 3544-2008)",
        air_standard=_BOILER,
        water_pollutants=_PAPER_WATER,
        solid=("造纸污泥",),
    ),
    Industry(
        "C2511",
        "原油加工及石油制品制造",
        0.3,
        1.2,
        1.0,
        {"air": 0.35, "monitoring": 0.25, "hazardous_waste": 0.25, "wastewater": 0.15},
        ("石化", "石油化工"),
        "",
        water_standard="《石油炼制工业污染物排放标准》(GB 31570-2015)",
        air_standard="《石油炼制工业污染物排放标准》(GB 31570-2015)",
        air_pollutants=(("非甲烷总烃", 120.0), ("二氧化硫", 100.0), ("氮氧化物", 150.0)),
        hazardous=("废催化剂（HW50）", "含油污泥（HW08）"),
    ),
    Industry(
        "C2614",
        "有机化学原料制造",
        2.0,
        2.2,
        0.8,
        {"hazardous_waste": 0.4, "air": 0.25, "wastewater": 0.15, "eia": 0.1, "monitoring": 0.1},
        ("化工", "化学"),
        "化工厂",
        water_standard="《石油化学工业污染物排放标准》(GB 31571-2015)",
        air_standard="《石油化学工业污染物排放标准》(GB 31571-2015)",
        air_pollutants=(("非甲烷总烃", 120.0), ("氯化氢", 30.0)),
        hazardous=("精（蒸）馏残渣（HW11）", "废有机溶剂（HW06）", "废活性炭（HW49）"),
    ),
    Industry(
        "C2710",
        "化学药品原料药制造",
        1.0,
        1.8,
        0.8,
        {"hazardous_waste": 0.4, "wastewater": 0.25, "air": 0.2, "eia": 0.15},
        ("药业", "制药", "生物医药"),
        "制药厂",
        urban=1.5,
        water_standard="《化学合成类制药工业水污染物排放标准》(GB 21904-2008)",
        air_standard="《制药工业大气污染物排放标准》(GB 37823-2019)",
        air_pollutants=(("非甲烷总烃", 100.0), ("颗粒物", 30.0)),
        hazardous=("医药废物（HW02）", "废活性炭（HW49）"),
    ),
    Industry(
        "C3011",
        "水泥制造",
        1.5,
        1.5,
        0.9,
        {"monitoring": 0.35, "air": 0.4, "dust": 0.15, "noise": 0.1},
        ("水泥", "建材"),
        "水泥厂",
        urban=0.5,
        air_standard="《水泥工业大气污染物排放标准》(GB 4915-2013)",
        air_pollutants=(("颗粒物", 30.0), ("二氧化硫", 200.0), ("氮氧化物", 400.0)),
        extra={"material": "水泥熟料"},
    ),
    Industry(
        "C3120",
        "炼钢",
        0.5,
        2.0,
        1.0,
        {
            "monitoring": 0.35,
            "air": 0.35,
            "solid_waste": 0.15,
            "dust": 0.1,
            "hazardous_waste": 0.05,
        },
        ("钢铁", "钢业", "特钢"),
        "钢铁厂",
        air_standard="《炼钢工业大气污染物排放标准》(GB 28664-2012)",
        air_pollutants=(("颗粒物", 50.0), ("氟化物", 6.0)),
        solid=("钢渣", "除尘灰"),
        extra={"material": "铁矿粉"},
    ),
    Industry(
        "C3216",
        "铝冶炼",
        0.6,
        2.5,
        1.0,
        {"air": 0.3, "hazardous_waste": 0.3, "solid_waste": 0.2, "monitoring": 0.2},
        ("铝业", "铝材"),
        "铝厂",
        urban=0.5,
        water_standard="《铝工业污染物排放标准》(GB 25465-2010)",
        air_standard="《铝工业污染物排放标准》(GB 25465-2010)",
        air_pollutants=(("颗粒物", 20.0), ("氟化物", 3.0), ("二氧化硫", 200.0)),
        hazardous=("铝灰渣（HW48）", "电解槽大修渣（HW48）"),
        solid=("赤泥",),
    ),
    Industry(
        "C3360",
        "金属表面处理及热处理加工",
        3.0,
        3.0,
        0.6,
        {"hazardous_waste": 0.45, "wastewater": 0.35, "permit": 0.1, "eia": 0.1},
        ("表面处理", "电镀", "五金"),
        "电镀厂",
        urban=1.3,
        water_standard="《电镀污染物排放标准》(GB 21900-2008)",
        water_pollutants=(("总铬", 1.0), ("六价铬", 0.2), ("总镍", 0.5), ("总铜", 0.5)),
        hazardous=("电镀污泥（HW17）", "废槽液（HW17）"),
    ),
    Industry(
        "C3670",
        "汽车零部件及配件制造",
        5.0,
        0.6,
        0.2,
        {"hazardous_waste": 0.35, "air": 0.35, "eia": 0.2, "noise": 0.1},
        ("汽车零部件", "汽配", "机械"),
        "汽车配件厂",
        urban=1.8,
        air_pollutants=(("非甲烷总烃", 120.0), ("颗粒物", 120.0)),
        hazardous=("漆渣（HW12）", "废有机溶剂（HW06）"),
    ),
    Industry(
        "C3982",
        "电子电路制造",
        1.5,
        0.8,
        0.4,
        {"hazardous_waste": 0.4, "wastewater": 0.4, "air": 0.1, "eia": 0.1},
        ("电子", "电路", "线路板"),
        "电子厂",
        urban=1.8,
        water_standard="《电子工业水污染物排放标准》(GB 39731-2020)",
        water_pollutants=(("总铜", 0.5), ("化学需氧量", 80.0), ("总镍", 0.5)),
        hazardous=("含铜蚀刻废液（HW22）", "废活性炭（HW49）"),
    ),
    Industry(
        "D4411",
        "火力发电",
        0.4,
        1.0,
        1.0,
        {"monitoring": 0.4, "air": 0.4, "solid_waste": 0.15, "dust": 0.05},
        ("发电", "电力", "能源"),
        "发电厂",
        urban=0.6,
        air_standard="《火电厂大气污染物排放标准》(GB 13223-2011)",
        air_pollutants=(("烟尘", 30.0), ("二氧化硫", 200.0), ("氮氧化物", 100.0)),
        solid=("粉煤灰", "炉渣"),
        extra={"material": "燃煤"},
    ),
    Industry(
        "D4620",
        "污水处理及其再生利用",
        3.0,
        0.8,
        0.7,
        {"wastewater": 0.55, "monitoring": 0.3, "solid_waste": 0.15},
        ("水务", "污水处理", "水质净化"),
        "污水处理厂",
        urban=1.2,
        water_standard="《城镇污水处理厂污染物排放标准》(GB 18918-2002)",
        water_pollutants=(("化学需氧量", 50.0), ("氨氮", 5.0), ("总磷", 0.5)),
        solid=("脱水污泥",),
    ),
    Industry(
        "E4710",
        "住宅房屋建筑",
        12.0,
        1.3,
        0.0,
        {"dust": 0.75, "noise": 0.2, "solid_waste": 0.05},
        ("建设", "建筑工程", "建工"),
        "",
        urban=2.5,
        solid=("建筑垃圾",),
        extra={"material": "裸露土方"},
    ),
    Industry(
        "N7724",
        "危险废物治理",
        0.5,
        0.8,
        1.0,
        {"hazardous_waste": 0.5, "air": 0.2, "monitoring": 0.2, "wastewater": 0.1},
        ("环保科技", "环境科技", "固废处置"),
        "",
        urban=0.7,
        air_standard="《危险废物焚烧污染控制标准》(GB 18484-2020)",
        air_pollutants=(("颗粒物", 30.0), ("氯化氢", 60.0), ("二氧化硫", 100.0)),
        hazardous=("焚烧飞灰（HW18）", "废活性炭（HW49）"),
    ),
)

#: Position of each industry code in :data:`INDUSTRIES`.
INDUSTRY_INDEX: Final = {ind.code: i for i, ind in enumerate(INDUSTRIES)}

#: Planted case-rate multiplier of each regulatory category.
CATEGORY_MULTIPLIERS: Final = {"key": 1.5, "special": 1.2, "general": 1.0}
CATEGORIES: Final = ("key", "special", "general")
CATEGORY_SHARES: Final = {"key": 0.10, "special": 0.15, "general": 0.75}
