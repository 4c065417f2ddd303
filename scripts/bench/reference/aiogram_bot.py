"""The aiogram 3 peer of scripts/bench/bot: a bot that answers /help with a fixed text.

Run as aiogram's users run one (Dispatcher.start_polling, a handler per command), only pointed at
the bench's fake Bot API instead of api.telegram.org:
    python3 aiogram_bot.py http://127.0.0.1:PORT 123456:ABC...
or with BOT_API_URL and BOT_TOKEN in the environment. Needs pip install aiogram==3.3.0.
Logs at WARNING, as Atelier runs in the bench: at INFO aiogram writes a line per update.
"""
import asyncio
import logging
import os
import sys

from aiogram import Bot, Dispatcher, Router
from aiogram.client.session.aiohttp import AiohttpSession
from aiogram.client.telegram import TelegramAPIServer
from aiogram.filters import Command
from aiogram.types import BotCommand, Message

HELP = (
    "This bot makes pictures from a text description.\n\n"
    "/new - describe a picture and get it in a minute\n"
    "/balance - how many pictures you have left\n"
    "/buy - more pictures\n"
    "/help - this message\n\n"
    "Write to support if something does not work."
)

router = Router()


@router.message(Command("help"))
async def help_command(message: Message) -> None:
    await message.answer(HELP)


async def main() -> None:
    base = sys.argv[1] if len(sys.argv) > 1 else os.environ["BOT_API_URL"]
    token = sys.argv[2] if len(sys.argv) > 2 else os.environ["BOT_TOKEN"]
    session = AiohttpSession(api=TelegramAPIServer.from_base(base))
    bot = Bot(token, session=session)
    dispatcher = Dispatcher()
    dispatcher.include_router(router)
    await bot.set_my_commands([BotCommand(command="help", description="What this bot does")])
    await bot.delete_webhook(drop_pending_updates=True)
    # Stops on SIGTERM or SIGINT (start_polling installs the handlers) and closes the session.
    await dispatcher.start_polling(bot)


if __name__ == "__main__":
    logging.basicConfig(level=logging.WARNING, stream=sys.stderr)
    asyncio.run(main())
