-- Quarto's cross-references and conditional content for the pandoc -> typst fallback
-- (src/beamnet/paper.py). Quarto does all of this itself; pandoc alone does not.
--  * @fig-x, @tbl-x, @sec-x (parsed by pandoc as citations) become typst references, which
--    typst numbers ("Figure 2", "Table 1") and fails on if the label does not exist;
--  * ::: {.content-visible when-meta="key"} (and unless-meta, .content-hidden) keep or drop
--    their content according to a boolean in the document's metadata;
--  * table captions go above tables (tables may break across pages), headings are numbered,
--    as in Quarto's typst output.
local crossref_prefixes = { "fig-", "tbl-", "sec-", "eq-" }
local meta = {}

local function is_crossref(id)
  for _, prefix in ipairs(crossref_prefixes) do
    if id:sub(1, #prefix) == prefix then return true end
  end
  return false
end

local function truthy(key)
  local value = meta[key]
  if value == nil then return false end
  if type(value) == "boolean" then return value end
  return pandoc.utils.stringify(value) == "true"
end

function Cite(cite)
  local out = pandoc.List()
  for i, citation in ipairs(cite.citations) do
    if not is_crossref(citation.id) then return nil end
    if i > 1 then out:insert(pandoc.Str(i == #cite.citations and " and " or ", ")) end
    out:insert(pandoc.RawInline("typst", "@" .. citation.id))
  end
  return out
end

function Div(div)
  local visible = div.classes:includes("content-visible")
  local hidden = div.classes:includes("content-hidden")
  if not (visible or hidden) then return nil end
  local show = true
  if div.attributes["when-meta"] then show = truthy(div.attributes["when-meta"]) end
  if div.attributes["unless-meta"] then show = not truthy(div.attributes["unless-meta"]) end
  if hidden then show = not show end
  return show and div.content or {}
end

local typst_setup = [[
#show figure.where(kind: table): set figure.caption(position: top)
#show figure.where(kind: table): set block(breakable: true)
#show heading.where(level: 1): it => { v(0.4em); it }
#set par(justify: true)
#set table(inset: 4pt, stroke: 0.4pt)
#show table: set text(size: 8.5pt)
#show figure.caption: set text(size: 9pt)
]]

return {
  { Meta = function(m)
      meta = m
      local includes = m["header-includes"] or pandoc.MetaList({})
      if includes.t ~= "MetaList" then includes = pandoc.MetaList({ includes }) end
      includes:insert(pandoc.MetaBlocks({ pandoc.RawBlock("typst", typst_setup) }))
      m["header-includes"] = includes
      if m["section-numbering"] == nil then m["section-numbering"] = pandoc.MetaString("1.1") end
      return m
    end },
  { Div = Div, Cite = Cite },
}
