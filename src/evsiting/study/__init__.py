"""The study area: province, prefectures and counties."""
