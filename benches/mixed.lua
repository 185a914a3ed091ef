-- A mix of good and bad requests for the soak test, in a fixed rotation, with a count of
-- every status seen. Used by benches/load.sh soak.
local big = string.rep("x", 5000)
local mix = {
  { "GET", "/api/machines/1", { ["Authorization"] = "Bearer read-token" }, nil },
  { "POST", "/api/machines", { ["Authorization"] = "Bearer write-token", ["Content-Type"] = "application/json" }, '{"name":"web-1"}' },
  { "GET", "/api/machines/1", {}, nil },                                                           -- 401 missing token
  { "GET", "/api/machines/1", { ["Authorization"] = "Bearer nope" }, nil },                         -- 401 unknown token
  { "POST", "/api/machines", { ["Authorization"] = "Bearer read-token", ["Content-Type"] = "application/json" }, "{}" }, -- 403 scope
  { "GET", "/api/machines/%zz", { ["Authorization"] = "Bearer read-token" }, nil },                 -- 400 bad URL
  { "GET", "/nope", { ["Authorization"] = "Bearer read-token" }, nil },                             -- 404
  { "POST", "/api/machines", { ["Authorization"] = "Bearer write-token", ["Content-Type"] = "text/plain" }, "hi" },  -- 415
  { "POST", "/api/machines", { ["Authorization"] = "Bearer write-token", ["Content-Type"] = "application/json" }, big }, -- 413
  { "DELETE", "/api/machines/1", { ["Authorization"] = "Bearer read-token" }, nil },               -- 405
}
local requests = {}
local index = 0
local threads = {}

function setup(thread)
  table.insert(threads, thread)
end

function init(args)
  for i, r in ipairs(mix) do
    requests[i] = wrk.format(r[1], r[2], r[3], r[4])
  end
  counts = {}
end

function request()
  index = index % #requests + 1
  return requests[index]
end

function response(status, headers, body)
  local key = "s" .. status
  counts[key] = (counts[key] or 0) + 1
end

function done(summary, latency, requests)
  local totals = {}
  for _, thread in ipairs(threads) do
    for _, status in ipairs({ 200, 201, 400, 401, 403, 404, 405, 413, 415, 500, 503, 504 }) do
      local c = thread:get("counts")
      local n = (c and c["s" .. status]) or 0
      totals[status] = (totals[status] or 0) + n
    end
  end
  for _, status in ipairs({ 200, 201, 400, 401, 403, 404, 405, 413, 415, 500, 503, 504 }) do
    if totals[status] > 0 then
      io.write(string.format("status %d: %d\n", status, totals[status]))
    end
  end
end
