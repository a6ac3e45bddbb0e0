-- wrk script: POST /api/v1/createmessage over keep-alive, as an ERP would.
-- HERALD_TOKEN, HERALD_INN and HERALD_STAFF come from the environment (bench/run.sh).
local token = os.getenv("HERALD_TOKEN")
local inn = os.getenv("HERALD_INN")
local staff = os.getenv("HERALD_STAFF")
wrk.method = "POST"
wrk.path = "/api/v1/createmessage"
wrk.headers["Content-Type"] = "application/json"
wrk.headers["Authorization"] = token
wrk.body = '{"inn":"' .. inn .. '","staffid":"' .. staff ..
  '","title":"Смена 4711","message":"Количество в документе реализации изменено: 12 → 14"}'

local bad = 0
function response(status, headers, body)
  if status ~= 200 or not string.find(body, '"success":true', 1, true) then
    bad = bad + 1
  end
end

function done(summary, latency, requests)
  io.write(string.format("requests %d  errors(non-2xx/socket) %d  rps %.0f  p50 %.2f ms  p90 %.2f ms  p99 %.2f ms  max %.2f ms\n",
    summary.requests, summary.errors.status + summary.errors.connect + summary.errors.read + summary.errors.write + summary.errors.timeout,
    summary.requests / (summary.duration / 1e6),
    latency:percentile(50) / 1000, latency:percentile(90) / 1000, latency:percentile(99) / 1000, latency.max / 1000))
end
