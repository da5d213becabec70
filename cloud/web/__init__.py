"""Pages for people: the resident's cabinet page (zh-CN / English)."""
