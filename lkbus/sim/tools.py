"""A function tool for simulated agents: `lookup_weather`, which can be told to fail."""

from __future__ import annotations

from collections.abc import Awaitable, Mapping

from livekit.agents import llm

__all__ = ["WeatherService"]


class WeatherService:
    """Backs the `lookup_weather` tool with canned forecasts and records its calls.

    `fail_next()` makes the next call raise, so the session reports the tool
    output with `is_error=True`.
    """

    tool_name = "lookup_weather"

    def __init__(self, forecasts: Mapping[str, str] | None = None) -> None:
        self.forecasts = dict(forecasts or {})
        self.calls: list[str] = []
        self._errors: list[Exception] = []
        self.tool: llm.FunctionTool[[str], Awaitable[str]] = llm.function_tool(
            self._lookup_weather,
            name=self.tool_name,
            description="Look up the current weather for a city.",
        )

    def forecast(self, city: str) -> str:
        """The forecast the tool returns for `city`."""
        return self.forecasts.get(city, f"sunny and 21 degrees in {city}")

    def fail_next(self, error: Exception | None = None) -> None:
        """Make the next call raise (`llm.ToolError` by default, whose text the LLM sees)."""
        self._errors.append(error or llm.ToolError("weather service unavailable"))

    async def _lookup_weather(self, city: str) -> str:
        """Look up the current weather for a city.

        Args:
            city: Name of the city.
        """
        self.calls.append(city)
        if self._errors:
            raise self._errors.pop(0)
        return self.forecast(city)
