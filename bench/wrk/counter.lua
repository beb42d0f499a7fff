-- wrk script: POST the same serialized ToFunction on every request, so the raw HTTP rate is
-- measured with bodies equivalent to what the runtime sends (one invocation for
-- bench/counter/<id>, state `count` registered and holding a value).
-- The body file comes from `eddy-bench-function --dump-request FILE`; pass its path in
-- EDDY_WRK_BODY.
local path = os.getenv("EDDY_WRK_BODY")
if path == nil or path == "" then
  error("set EDDY_WRK_BODY to a file written by eddy-bench-function --dump-request")
end
local file = assert(io.open(path, "rb"))
local body = file:read("*a")
file:close()
if #body == 0 then
  error("request body file " .. path .. " is empty")
end

wrk.method = "POST"
wrk.body = body
wrk.headers["Content-Type"] = "application/octet-stream"
wrk.headers["Accept"] = "application/octet-stream"
