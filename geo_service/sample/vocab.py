"""Words the synthetic records are made of: company names, streets, people, labels.

Street, town and park words never contain the name of a Guangxi division (the
generator checks this), so an address names exactly the divisions put into it.
"""

from __future__ import annotations

from typing import Final

#: Characters of trade names (字号); two are drawn per name.
BRAND_CHARS: Final = (
    "鑫华盛宏泰源达丰隆恒佳瑞兴旺鼎昌通顺永福金银海天宇博创新远东"
    "利和康安广联合润德信诚晟鸿嘉祥富荣耀发茂益中升桂邦锦辉腾骏亿"
)
#: Regional words used instead of a place name in some company names.
REGION_WORDS: Final = (
    "桂中",
    "桂西",
    "桂南",
    "桂北",
    "桂东",
    "北部湾",
    "西江",
    "红水河",
    "八桂",
    "华南",
)
#: Legal forms and their shares (the "…厂" form is used where the industry has one).
LEGAL_FORMS: Final = (("有限公司", 0.62), ("有限责任公司", 0.22), ("股份有限公司", 0.06))
FACTORY_SHARE: Final = 0.10
GROUP_MARK: Final = "（集团）"
GROUP_SHARE: Final = 0.03
GUANGXI_PREFIX: Final = "广西"
GUANGXI_PREFIX_SHARE: Final = 0.15

PROVINCE_NAME: Final = "广西壮族自治区"

STREETS: Final = (
    "民族大道",
    "友爱路",
    "长堤路",
    "建设路",
    "解放路",
    "新华街",
    "人民路",
    "中山路",
    "工业大道",
    "滨江路",
    "环城路",
    "南环路",
    "北环路",
    "东环路",
    "西环路",
    "朝阳路",
    "和平路",
    "文化路",
    "兴业路",
    "创业路",
    "科技路",
    "发展大道",
    "迎宾大道",
    "振兴路",
    "光明路",
    "团结路",
    "胜利路",
    "金桂路",
    "桂花路",
    "榕树路",
    "木棉路",
    "凤凰路",
    "龙腾路",
    "江滨路",
    "红星路",
    "白沙路",
    "青山路",
    "石门路",
    "幸福路",
    "育才路",
    "开元路",
    "锦绣路",
    "花园路",
    "新村路",
    "车站路",
    "沿江路",
    "秀灵路",
    "长虹路",
)
TOWNS: Final = (
    "大塘镇",
    "石埠镇",
    "黎塘镇",
    "新圩镇",
    "那龙镇",
    "六景镇",
    "沙井镇",
    "大沙田镇",
    "三塘镇",
    "伶俐镇",
    "那楼镇",
    "古辣镇",
    "石龙镇",
    "凤凰镇",
    "良圻镇",
    "长塘镇",
    "百合镇",
    "中和镇",
    "平福镇",
    "大新镇",
    "太平镇",
    "仁厚镇",
    "东华镇",
    "南江镇",
    "樟木镇",
    "高田镇",
    "双桥镇",
    "木格镇",
    "马岭镇",
    "城厢镇",
)
VILLAGES: Final = (
    "那马村",
    "坛洛村",
    "六和村",
    "新华村",
    "长岭村",
    "大坡村",
    "高岭村",
    "平安村",
    "那桐村",
    "石塘村",
    "岭头村",
    "上林村",
    "江口村",
    "塘利村",
    "水口村",
    "龙头村",
)
PARK_SUFFIXES: Final = ("工业园", "产业园", "工业集中区", "经济开发区")
PARK_ROADS: Final = ("纬一路", "纬二路", "经一路", "经三路", "园区大道", "创新路", "产业大道")

SURNAMES: Final = "李王张刘陈杨黄赵吴周韦覃蒙莫陆梁卢罗农潘谢唐廖蓝苏何林邓冯曾彭蒋宁施甘雷钟"
GIVEN_CHARS: Final = (
    "明芳伟军勇杰涛斌华强丽敏静燕玲红霞鹏辉刚健平波宁峰磊超洋琳婷"
    "海东志文俊德学荣秀英桂兰春梅建国家成林瑶婕颖晖锋"
)

#: Abbreviation of each city in penalty decision numbers (e.g. 邕环罚〔2023〕15号).
CITY_ABBREVIATIONS: Final = {
    "450100": "邕",
    "450200": "柳",
    "450300": "桂",
    "450400": "梧",
    "450500": "北",
    "450600": "防",
    "450700": "钦",
    "450800": "贵",
    "450900": "玉",
    "451000": "百",
    "451100": "贺",
    "451200": "河",
    "451300": "来",
    "451400": "崇",
}

#: Canonical CRS → labels written in the ``crs`` column (all accepted by normalize_crs_name).
CRS_LABELS: Final = {
    "WGS84": ("WGS84", "wgs84", "EPSG:4326"),
    "GCJ02": ("GCJ-02", "高德", "gcj02", "GCJ02"),
    "BD09": ("BD09", "百度", "bd09"),
    "CGCS2000": ("CGCS2000", "EPSG:4490", "国家2000"),
}

#: Case statuses and their shares for decisions of the oldest and of the latest year.
CASE_STATUSES: Final = ("已执行", "执行中", "未执行", "分期缴纳", "申请行政复议", "提起行政诉讼")
STATUS_SHARES_OLD: Final = (0.86, 0.03, 0.03, 0.04, 0.02, 0.02)
STATUS_SHARES_NEW: Final = (0.45, 0.35, 0.08, 0.06, 0.04, 0.02)

#: Addresses that name no division at all (unlocatable rows).
NOWHERE_ADDRESSES: Final = (
    "某某路88号",
    "工业园内",
    "城东片区3号地块",
    "国道旁",
    "河边厂房",
    "村委旁边",
    "原砖厂旧址",
    "老糖厂后面",
)

#: Date formats of the date columns: (strftime-like name, share).
DATE_FORMATS: Final = (("iso", 0.5), ("slash", 0.2), ("chinese", 0.2), ("compact", 0.1))
#: Penalty amount formats: (name, share): 50000 / 50,000元 / 5万元.
AMOUNT_FORMATS: Final = (("plain", 0.8), ("comma_yuan", 0.1), ("wan", 0.1))

WATERS: Final = (
    "邕江",
    "柳江",
    "西江",
    "郁江",
    "浔江",
    "左江",
    "右江",
    "红水河",
    "漓江",
    "南流江",
    "钦江",
    "北流河",
    "附近农灌渠",
    "厂区外无名溪沟",
    "周边鱼塘",
)
DIRECTIONS: Final = ("东", "南", "西", "北", "东南", "西北", "东北", "西南")
